"""The dependency graph of channels: which output channels of which layers must be pruned together.

Removing filter ``k`` of a convolution removes channel ``k`` of every tensor derived from it: the BatchNorm
after it, the depthwise convolution after that, the input rows of every consumer's kernel and, through an
``Add``, the same channel of the other branch. ``ChannelGraph`` walks a functional tf_keras model once (in
execution order, as Keras runs it) and describes every tensor's last axis as a *layout*: a tuple of segments
``(group, mult)``, each covering ``size(group) * mult`` consecutive channels (``mult`` > 1 after a depthwise
convolution with a depth multiplier). A *group* is one channel space, the unit of pruning (VainF's
Torch-Pruning calls it the same, CVPR'23 DepGraph):

* every producer (Conv, Dense, the pointwise half of SeparableConv) makes a new group on its output;
* pass-through layers and BatchNorm/PReLU/DepthwiseConv keep the layout;
* Add/Multiply/... (and ``x * y``) tie their inputs' groups into one (union-find), a broadcast input
  of one channel (``(H, W, 1) * (H, W, C)``) is left alone and fixed; an SE gate ``(1, 1, C) * (H, W, C)`` ties;
* Concatenate on the last axis makes the output the concatenation of its inputs' layouts;
* Flatten repeats the layout once per spatial position (the next Dense's rows follow).

Groups are *fixed* (never pruned) when they hold the model's input channels, reach a model output, touch a
layer that mixes or moves channels (LayerNormalization, softmax, a Reshape of the channel axis, a grouped
convolution), or hold a layer named in ``exclude``. A group is named after the producer among its members
that comes first in ``model.layers`` (the order the model was built in, e.g. ``"block_1_project"`` for
MobileNetV2's ``block_1_project``/``block_2_project`` pair), so the names are stable for a given model.
"""

import dataclasses
import difflib

import numpy as np

from tfcompress._compat import graph_nodes, is_graph_network, keras_history
from tfcompress._keras import keras
from tfcompress.errors import ConfigError, ModelError
from tfcompress.prune import rules


@dataclasses.dataclass(frozen=True)
class Group:
    """One channel space of a model: the unit of channel pruning.

    Attributes:
        name: the group's name (its producer that comes first in ``model.layers``).
        size: number of channels.
        producers: layers whose output channels are this group (their kernels' output axes are sliced).
        followers: layers with per-channel weights along it (BatchNorm, DepthwiseConv, PReLU, separable
            depthwise halves).
        consumers: layers whose kernels read it on their input axis.
        fixed: why the group cannot be pruned, or "" when it can.
    """

    name: str
    size: int
    producers: tuple
    followers: tuple
    consumers: tuple
    fixed: str = ""

    @property
    def prunable(self):
        return not self.fixed

    @property
    def members(self):
        """Layers that name this group (``layer_ratios``/``exclude``): producers, then followers."""
        return self.producers + tuple(f for f in self.followers if f not in self.producers)


@dataclasses.dataclass(frozen=True)
class NodeRecord:
    """One call of a layer: its rule and the layouts of its input tensors and output (group names)."""

    node: object
    rule: rules.Rule
    in_layouts: tuple
    out_layout: tuple

    @property
    def layer(self):
        return self.node.layer


class ChannelGraph:
    """The channel dependency graph of a functional (or Sequential) tf_keras model.

    Args:
        model: a built functional or Sequential ``tf_keras`` model. Nested functional sub-models are inlined
            first (``tfcompress.quantize.flatten.flatten_model``); ``graph.model`` is then that flat copy.
        exclude: names of layers whose groups are kept whole. Defaults to ().

    Attributes:
        model: the model the graph describes (the given one, or its flattened copy).
        groups: dict group name -> ``Group``, in execution order.
        records: one ``NodeRecord`` per layer call, in execution order.

    Raises:
        ModelError: not a functional model, or a layer the graph cannot reason about (a custom layer, a
            Lambda, a subclassed sub-model...): one line naming the layer and its class, raised before any
            other work.
        ConfigError: a name in ``exclude`` is not a layer of the model.

    Example:
        >>> from tfcompress import keras
        >>> x = keras.Input((8, 8, 3))
        >>> a = keras.layers.Conv2D(4, 3, padding="same", name="a")(x)
        >>> b = keras.layers.Conv2D(4, 3, padding="same", name="b")(a)
        >>> y = keras.layers.Dense(2, name="head")(keras.layers.GlobalAveragePooling2D()(keras.layers.Add()([a, b])))
        >>> graph = ChannelGraph(keras.Model(x, y))
        >>> [(g.name, g.size, g.producers) for g in graph.prunable()]
        [('a', 4, ('a', 'b'))]
        >>> graph.groups["head"].fixed
        "it reaches the model output (layer 'head')"
    """

    def __init__(self, model, exclude=()):
        self.model = _functional(model)
        self._order = {layer.name: i for i, layer in enumerate(self.model.layers)}
        nodes = graph_nodes(self.model)
        found = [(node, rules.rule_for(node.layer, node)) for node in nodes]  # refuse unknown layers first
        self._parent, self._sizes, self._names, self._fixed = [], [], [], {}
        self._roles = {"producers": {}, "followers": {}, "consumers": {}}
        self._layouts, self._calls, self._own, self._raw = {}, {}, {}, []
        for tensor in self.model.inputs:
            gid = self._new(_width(tensor), keras_history(tensor).layer.name)
            self._fix([(gid, 1)], "it holds the model's input channels")
            self._layouts[id(tensor)] = ((gid, 1),)
        for node, rule in found:
            self._visit(node, rule)
        for tensor in self.model.outputs:
            name = keras_history(tensor).layer.name
            self._fix(self._layouts[id(tensor)], f"it reaches the model output (layer {name!r})")
        self.layer_layouts = {}
        self._finish()
        for name in _names(exclude):
            for group in self.groups_of(name, "exclude"):
                self._fixed.setdefault(self._find(self._gid[group]), []).append(f"layer {name!r} is excluded")
        self._finish()

    # ------------------------------------------------------------------ queries
    def prunable(self):
        """The groups that can be pruned, in execution order."""
        return [g for g in self.groups.values() if g.prunable]

    def groups_of(self, layer_name, option="layer name"):
        """Names of the groups a layer's output channels belong to (one for a conv, several for a Concatenate).

        Raises:
            ConfigError: no layer of that name (the message suggests close names).
        """
        if layer_name not in self.layer_layouts:
            close = difflib.get_close_matches(str(layer_name), list(self.layer_layouts), n=3)
            hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
            raise ConfigError(f"{option}: no layer named {layer_name!r} in model {self.model.name!r} "
                              f"({len(self.layer_layouts)} layers).{hint}")
        return list(dict.fromkeys(g for g, _ in self.layer_layouts[layer_name]))

    def group_by_member(self, layer_name, option="layer name"):
        """The one group a layer names (for ``layer_ratios``). Raises ConfigError for a layer spanning several."""
        found = self.groups_of(layer_name, option)
        if len(found) != 1:
            raise ConfigError(f"{option}: layer {layer_name!r} outputs channels of {len(found)} groups "
                              f"({', '.join(found)}); name one layer of each group instead.")
        return found[0]

    def kept_indices(self, layout, keep):
        """Flat kept channel indices of a tensor with ``layout`` when each group keeps ``keep[name]`` (sorted).

        Groups missing from ``keep`` keep all their channels.
        """
        parts, offset = [], 0
        for name, mult in layout:
            size = self.groups[name].size
            kept = np.asarray(keep.get(name, np.arange(size)), dtype="int64")
            parts.append(offset + expand(kept, mult))
            offset += size * mult
        return np.concatenate(parts) if parts else np.zeros(0, dtype="int64")

    def width(self, layout, counts=None):
        """Channels of a tensor with ``layout`` when each group keeps ``counts[name]`` (default: all)."""
        counts = counts or {}
        return sum(counts.get(name, self.groups[name].size) * mult for name, mult in layout)

    def param_count(self, counts=None):
        """Parameters of the model pruned to ``counts`` (group name -> kept channels), without rebuilding it.

        Equal to ``count_params()`` of ``prune_channels``' result (trainable and non-trainable weights).
        """
        total, seen = 0, set()
        for record in self.records:
            layer = record.layer
            if layer.name in seen:
                continue
            seen.add(layer.name)
            sizes = {"in": self.width(record.in_layouts[0], counts) if record.in_layouts else 0,
                     "out": self.width(record.out_layout, counts)}
            sizes["mid"] = sizes["in"] * record.rule.mult
            for weight, spec in zip(layer.weights, record.rule.weights or [None] * len(layer.weights)):
                shape = list(weight.shape)
                for axis, role in (spec.axes if spec else ()):
                    shape[axis] = sizes[role]
                total += int(np.prod(shape))
        return total

    # ------------------------------------------------------------------ building
    def _visit(self, node, rule):
        layer = node.layer
        inputs = list(node.keras_inputs)
        ins = [self._layouts[id(t)] for t in inputs]
        out_tensors = [t for t in _flat(node.outputs)]
        kind = rule.kind
        if kind in (rules.PRODUCER, rules.FOLLOWER):
            if len(ins) != 1:
                raise ModelError(f"layer {layer.name!r} ({type(layer).__name__}) is called on {len(ins)} tensors; "
                                 "channel pruning expects one input per weight layer.")
            self._tie_calls(layer, ins[0])
            self._role("consumers" if kind == rules.PRODUCER else "followers", ins[0], layer.name)
            if kind == rules.PRODUCER:
                if rule.separable:
                    self._role("followers", ins[0], layer.name)
                if layer.name not in self._own:
                    self._own[layer.name] = self._new(_width(out_tensors[0]), layer.name)
                gid = self._own[layer.name]
                self._roles["producers"].setdefault(gid, []).append(layer.name)
                out = ((gid, 1),)
                if rule.reason:
                    self._fix(ins[0] + out, rule.reason)
            else:
                out = tuple((g, m * rule.mult) for g, m in ins[0])
        elif kind in (rules.PASS, rules.FIX):
            out = ins[0]
            if kind == rules.FIX:
                self._fix(out, rule.reason)
        elif kind == rules.MERGE:
            out = self._merge(layer, ins, out_tensors[0])
        elif kind == rules.CONCAT:
            out = tuple(seg for layout in ins for seg in layout)
        elif kind == rules.FLATTEN:
            shape = inputs[0].shape
            positions = int(np.prod(shape[1:-1])) if len(shape) > 2 else 1
            out = ins[0] * positions
        else:  # OPAQUE: a new fixed channel space
            for layout in ins:
                self._fix(layout, rule.reason)
            if layer.name not in self._own:
                self._own[layer.name] = self._new(_width(out_tensors[0]), layer.name)
            out = ((self._own[layer.name], 1),)
            self._fix(out, rule.reason)
        if sum(self._sizes[self._find(g)] * m for g, m in out) != _width(out_tensors[0]):
            raise ModelError(f"layer {layer.name!r} ({type(layer).__name__}) changes the number of channels in a "
                             "way channel pruning cannot follow; prune this model with method 'magnitude'.")
        for tensor in out_tensors:
            self._layouts[id(tensor)] = out
        self._raw.append((node, rule, tuple(ins), out))

    def _merge(self, layer, ins, output):
        width = _width(output)
        full = [layout for layout in ins if self._layout_width(layout) == width]
        for layout in ins:
            if self._layout_width(layout) != width:
                self._fix(layout, f"{layer.name} broadcasts it along the channels")
        for layout in full[1:]:
            if not self._tie(full[0], layout):
                self._fix(full[0] + layout, f"{layer.name} combines tensors whose channels come from "
                                            "differently concatenated or expanded sources")
        return full[0]

    def _tie_calls(self, layer, layout):
        """A layer called twice slices its weights once: the channels of both calls must be tied."""
        first = self._calls.setdefault(layer.name, layout)
        if first is not layout and not self._tie(first, layout):
            self._fix(first + layout, f"shared layer {layer.name} reads differently laid out channels")

    def _tie(self, a, b):
        if len(a) != len(b) or any(ma != mb or self._sizes[self._find(ga)] != self._sizes[self._find(gb)]
                                   for (ga, ma), (gb, mb) in zip(a, b)):
            return False
        for (ga, _), (gb, _) in zip(a, b):
            ra, rb = sorted((self._find(ga), self._find(gb)), key=self._rank)
            if ra != rb:
                self._parent[rb] = ra  # the group of the layer built first stays the root and names the union
                self._fixed.setdefault(ra, []).extend(self._fixed.pop(rb, []))
        return True

    def _new(self, size, name):
        self._parent.append(len(self._parent))
        self._sizes.append(int(size))
        self._names.append(name)
        return len(self._parent) - 1

    def _rank(self, gid):
        return self._order.get(self._names[gid], -1), gid

    def _find(self, gid):
        while self._parent[gid] != gid:
            self._parent[gid] = self._parent[self._parent[gid]]
            gid = self._parent[gid]
        return gid

    def _fix(self, layout, reason):
        for gid, _ in layout:
            root = self._find(gid)
            if reason not in self._fixed.setdefault(root, []):
                self._fixed[root].append(reason)

    def _role(self, role, layout, name):
        for gid, _ in layout:
            self._roles[role].setdefault(gid, []).append(name)

    def _layout_width(self, layout):
        return sum(self._sizes[self._find(g)] * m for g, m in layout)

    def _finish(self):
        members = {role: {} for role in self._roles}
        for role, by_gid in self._roles.items():
            for gid, names in by_gid.items():
                members[role].setdefault(self._find(gid), []).extend(names)
        roots = sorted({self._find(g) for g in range(len(self._parent))})
        self._gid = {self._names[r]: r for r in roots}
        self.groups = {}
        for root in roots:
            unique = {role: tuple(dict.fromkeys(members[role].get(root, []))) for role in members}
            self.groups[self._names[root]] = Group(self._names[root], self._sizes[root], unique["producers"],
                                                   unique["followers"], unique["consumers"],
                                                   "; ".join(self._fixed.get(root, [])))
        named = lambda layout: tuple((self._names[self._find(g)], m) for g, m in layout)  # noqa: E731
        self.records = [NodeRecord(node, rule, tuple(named(x) for x in ins), named(out))
                        for node, rule, ins, out in self._raw]
        self.layer_layouts = {}
        for tensor in self.model.inputs:
            self.layer_layouts[keras_history(tensor).layer.name] = named(self._layouts[id(tensor)])
        for record in self.records:
            self.layer_layouts.setdefault(record.layer.name, record.out_layout)


def expand(kept, mult):
    """Channel indices after a depth multiplier: input channel ``c`` becomes ``c*mult .. c*mult + mult - 1``."""
    kept = np.asarray(kept, dtype="int64")
    return kept if mult == 1 else (kept[:, None] * mult + np.arange(mult)[None, :]).ravel()


def _functional(model):
    if not isinstance(model, keras.Model):
        raise ModelError(f"channel pruning expects a tf_keras Model (build it with tfcompress.keras); received "
                         f"{type(model).__module__}.{type(model).__name__}.")
    if not is_graph_network(model):
        raise ModelError(f"model {model.name!r} ({type(model).__name__}) has no functional graph (a subclassed "
                         "model, or a Sequential model built without keras.Input). Fix: build it with the "
                         "functional or Sequential API starting from keras.Input.")
    for layer in model.layers:  # before flattening: a subclassed sub-model is refused naming itself
        if isinstance(layer, keras.Model) and not is_graph_network(layer):
            raise ModelError(f"layer {layer.name!r} ({type(layer).__name__}) is a subclassed model used as a "
                             "layer; its graph is unknown, so it cannot be flattened or pruned. Fix: build it "
                             "with the functional API.")
    if any(isinstance(layer, keras.Model) for layer in model.layers):
        from tfcompress.quantize.flatten import flatten_model

        model = flatten_model(model)
    return model


def _flat(outputs):
    return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]


def _width(tensor):
    shape = tensor.shape
    if len(shape) < 2:
        return 1
    if shape[-1] is None:
        raise ModelError(f"tensor {tensor.name!r} has an unknown number of channels; channel pruning needs "
                         "static channel counts. Fix: give keras.Input a full shape.")
    return int(shape[-1])


def _names(value):
    return [value] if isinstance(value, str) else list(value or ())


__all__ = ["ChannelGraph", "Group", "NodeRecord", "expand"]
