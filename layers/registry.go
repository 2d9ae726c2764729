package layers

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
)

// The layer registry: every layer type declares itself once, in its own file, with
// Register — its name, options (with defaults, docs and checks), arity, builder and
// gradient-check cases — and everything that needs to know the types (the experiment
// decoder and validator in configs, the graph builder in train, the gradient-check suite
// in autodiff, `fcn layers`) reads it here. Nothing else lists the layer types.

// OptionKind is the form an option's value takes in an experiment file, and so the Go
// type it has in Options.
type OptionKind int

// Option kinds, with the Go type of their values.
const (
	KindInt      OptionKind = iota + 1 // an integer: int
	KindPair                           // one integer for both axes or an [h, w] pair: [2]int
	KindBool                           // true or false: bool
	KindFloat                          // a number: float64
	KindString                         // text, one of Choices when given: string
	KindFloats                         // a list of numbers: []float64
	KindChannels                       // a channel count or `classes`: Channels
	KindOffset                         // auto, an integer or an [h, w] pair: Offset
)

// String describes the kind for messages and docs: "an integer or an [h, w] pair".
func (k OptionKind) String() string {
	switch k {
	case KindInt:
		return "an integer"
	case KindPair:
		return "an integer or an [h, w] pair"
	case KindBool:
		return "true or false"
	case KindFloat:
		return "a number"
	case KindString:
		return "text"
	case KindFloats:
		return "a list of numbers"
	case KindChannels:
		return "the number of output channels, or `classes`"
	case KindOffset:
		return "auto, an integer or an [h, w] pair"
	}
	return fmt.Sprintf("OptionKind(%d)", int(k))
}

// Label is the kind in a word or two, for tables: "int", "[h, w]", "bool", ...
func (k OptionKind) Label() string {
	switch k {
	case KindInt:
		return "int"
	case KindPair:
		return "int | [h, w]"
	case KindBool:
		return "bool"
	case KindFloat:
		return "number"
	case KindString:
		return "text"
	case KindFloats:
		return "[numbers]"
	case KindChannels:
		return "int | classes"
	case KindOffset:
		return "auto | int | [h, w]"
	}
	return k.String()
}

// Channels is an output channel count: N, or the model's class count when Classes.
type Channels struct {
	N       int
	Classes bool
}

// Count resolves the channel count for a model of the given number of classes.
func (c Channels) Count(classes int) int {
	if c.Classes {
		return classes
	}
	return c.N
}

// Offset is a crop's offset: Auto (Caffe's coord_map) or HW.
type Offset struct {
	Auto bool
	HW   [2]int
}

// Option declares one option of a layer type.
type Option struct {
	Key  string     // as written in experiment files: "kernel"
	Kind OptionKind // the form of its value
	Doc  string     // one line
	// Default is the value when the file does not set it, of the kind's Go type; nil
	// when there is none (see DefaultFrom and Required).
	Default any
	// DefaultFrom names another option whose value is the default (maxpool's stride
	// defaults to its kernel).
	DefaultFrom string
	// DefaultDoc describes a default that depends on more than a value ("1 per input").
	DefaultDoc string
	Required   bool
	Choices    []string // KindString: the accepted values
	// ModelKey, when set, names a model-wide key (model.upsample) whose value, when
	// given, overrides this option in every layer of the type: one switch for studies.
	ModelKey string
	// ModelDefault, when set, names a model-wide key (model.init) whose value, when
	// given, is this option's default in every layer of the type that does not set it:
	// unlike ModelKey, a layer's own value wins.
	ModelDefault string
	// Check returns "" for an acceptable value, else what is wrong ("must be ≥ 1, got 0").
	Check func(v any) string
}

// Arity is how many inputs a layer takes; Max 0 means no upper bound.
type Arity struct{ Min, Max int }

// BuildArgs is what a builder gets: the layer's name and inputs, its options with
// defaults, and the model's class count (for `out: classes`).
type BuildArgs struct {
	Name    string
	Inputs  []string
	Options Options
	Classes int
}

// Built is one graph node a layer entry turns into.
type Built struct {
	Name   string
	Layer  Layer
	Inputs []string
}

// Problem is one thing wrong with a layer's options, found before anything is built.
type Problem struct {
	Key string // the option ("stride"), or "" for the layer as a whole
	Msg string
	// Unknown is set, with Choices, when the value is not among the option's choices, so
	// that a caller can suggest the closest one.
	Unknown string
	Choices []string
}

// Type is one registered layer type.
type Type struct {
	Name    string
	Doc     string // one line
	Inputs  Arity
	Options []Option
	// Check finds problems that involve several options, or the class or input count,
	// beyond each option's own Check. Optional.
	Check func(a BuildArgs) []Problem
	// Build makes the layer's graph node(s): one node of the layer's name, except where a
	// type expands into several (a deconv in mode resize_conv), whose last node then
	// carries the layer's name.
	Build func(a BuildArgs) ([]Built, error)
	// GradCases are the gradient checks of the type, run by `fcn gradcheck`.
	GradCases func() []GradCase
	// GradVariants are substrings that the names of GradCases must cover between them
	// (the variants the checks must include: "stride", "pad", "batch", ...).
	GradVariants []string
	// Internal types are not written in model.layers: the loss is built from the
	// experiment's loss section.
	Internal bool

	// Interchange names, for importing and exporting models: Caffe's layer type
	// ("Convolution"), ONNX's operator ("Conv") and PyTorch's module ("nn.Conv2d").
	Caffe, ONNX, Torch string
	// CaffeMap is how the type maps to a Caffe layer (caffe.go); CaffeWhyNot says why a
	// model type has none.
	CaffeMap    *CaffeMapping
	CaffeWhyNot string
	// ONNXExport turns one node of a built graph into ONNX operators (see ONNXArgs);
	// every model type has one. Nil for internal types (the loss is not exported).
	ONNXExport func(ONNXArgs) (ONNXOut, error)
}

// Option returns the declaration of key, or nil.
func (t *Type) Option(key string) *Option {
	for i := range t.Options {
		if t.Options[i].Key == key {
			return &t.Options[i]
		}
	}
	return nil
}

// OptionKeys lists the type's option keys in declaration order.
func (t *Type) OptionKeys() []string {
	keys := make([]string, len(t.Options))
	for i, o := range t.Options {
		keys[i] = o.Key
	}
	return keys
}

// NewOptions returns an empty option set of the type: every option at its default.
func (t *Type) NewOptions() Options { return Options{t: t} }

var registry = struct {
	sync.RWMutex
	types map[string]*Type
}{types: map[string]*Type{}}

// Register adds a layer type. It is called from init functions, once per type, and
// panics on a malformed or duplicate declaration: a programming error found by any run.
func Register(t *Type) {
	if err := t.selfCheck(); err != nil {
		panic("layers.Register: " + err.Error())
	}
	registry.Lock()
	defer registry.Unlock()
	if _, dup := registry.types[t.Name]; dup {
		panic("layers.Register: type " + t.Name + " registered twice")
	}
	registry.types[t.Name] = t
}

// selfCheck catches declarations that could not work: defaults of the wrong Go type,
// a DefaultFrom naming no option, a missing builder.
func (t *Type) selfCheck() error {
	if t.Name == "" || t.Build == nil {
		return fmt.Errorf("type %q: needs a name and a builder", t.Name)
	}
	seen := map[string]bool{}
	for _, o := range t.Options {
		if seen[o.Key] {
			return fmt.Errorf("type %s: option %s declared twice", t.Name, o.Key)
		}
		seen[o.Key] = true
		if o.Default != nil {
			if err := checkKind(o.Kind, o.Default); err != nil {
				return fmt.Errorf("type %s: option %s: default: %w", t.Name, o.Key, err)
			}
		}
		if o.DefaultFrom != "" && t.Option(o.DefaultFrom) == nil {
			return fmt.Errorf("type %s: option %s: default from unknown option %s", t.Name, o.Key, o.DefaultFrom)
		}
	}
	return nil
}

// Lookup returns the registered type of that name.
func Lookup(name string) (*Type, bool) {
	registry.RLock()
	defer registry.RUnlock()
	t, ok := registry.types[name]
	return t, ok
}

// Types returns every registered type, sorted by name.
func Types() []*Type {
	registry.RLock()
	defer registry.RUnlock()
	ts := make([]*Type, 0, len(registry.types))
	for _, t := range registry.types {
		ts = append(ts, t)
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].Name < ts[j].Name })
	return ts
}

// ModelTypes lists the names of the types a model's layers may use, sorted.
func ModelTypes() []string {
	var names []string
	for _, t := range Types() {
		if !t.Internal {
			names = append(names, t.Name)
		}
	}
	return names
}

// AllOptionKeys lists every option key of every model type, sorted, once each.
func AllOptionKeys() []string {
	var keys []string
	for _, t := range Types() {
		if !t.Internal {
			keys = append(keys, t.OptionKeys()...)
		}
	}
	sort.Strings(keys)
	return slices.Compact(keys)
}

// Options holds the options of one layer as set, and answers for the rest with the
// type's defaults. The zero Options has no type; get one from Type.NewOptions.
type Options struct {
	t   *Type
	set map[string]any
}

// Type is the layer type the options belong to.
func (o Options) Type() *Type { return o.t }

// Has reports whether key was set (rather than left at its default).
// The getters below return the zero value for an option without value.
func (o Options) Has(key string) bool {
	_, ok := o.set[key]
	return ok
}

// SetKeys lists the keys that were set, in declaration order.
func (o Options) SetKeys() []string {
	if o.t == nil {
		return nil
	}
	var keys []string
	for _, opt := range o.t.Options {
		if o.Has(opt.Key) {
			keys = append(keys, opt.Key)
		}
	}
	return keys
}

// Set sets key to v, which must be of the option's kind.
func (o *Options) Set(key string, v any) error {
	opt := o.t.Option(key)
	if opt == nil {
		return fmt.Errorf("%s layers have no option %q", o.t.Name, key)
	}
	if err := checkKind(opt.Kind, v); err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	// Copy on write: Options are values, and a copy (of a LayerSpec, say) must not
	// change with the original.
	set := make(map[string]any, len(o.set)+1)
	maps.Copy(set, o.set)
	set[key] = cloneValue(v)
	o.set = set
	return nil
}

// Value returns key's value — as set, else its default — and whether it has one. A key
// the type does not declare has none, so generic code can read any option of any layer
// (a relu's kernel is {0, 0}).
func (o Options) Value(key string) (any, bool) {
	if v, ok := o.set[key]; ok {
		return cloneValue(v), true
	}
	if o.t == nil {
		return nil, false
	}
	opt := o.t.Option(key)
	switch {
	case opt == nil:
		return nil, false
	case opt.DefaultFrom != "":
		return o.Value(opt.DefaultFrom)
	}
	return opt.Default, opt.Default != nil
}

func optionAs[T any](o Options, key string) T {
	v, _ := o.Value(key)
	t, _ := v.(T)
	return t
}

// Int returns an integer option (0 when unset without default).
func (o Options) Int(key string) int { return optionAs[int](o, key) }

// Pair returns a spatial option ({0, 0} when unset without default).
func (o Options) Pair(key string) [2]int { return optionAs[[2]int](o, key) }

// Bool returns a boolean option.
func (o Options) Bool(key string) bool { return optionAs[bool](o, key) }

// Float returns a number option.
func (o Options) Float(key string) float64 { return optionAs[float64](o, key) }

// String returns a text option.
func (o Options) String(key string) string { return optionAs[string](o, key) }

// Floats returns a list option (a copy; nil when unset without default).
func (o Options) Floats(key string) []float64 { return slices.Clone(optionAs[[]float64](o, key)) }

// Channels returns a channel-count option.
func (o Options) Channels(key string) Channels { return optionAs[Channels](o, key) }

// Offset returns an offset option.
func (o Options) Offset(key string) Offset { return optionAs[Offset](o, key) }

// checkKind reports whether v is of the Go type that values of kind k have.
func checkKind(k OptionKind, v any) error {
	ok := false
	switch k {
	case KindInt:
		_, ok = v.(int)
	case KindPair:
		_, ok = v.([2]int)
	case KindBool:
		_, ok = v.(bool)
	case KindFloat:
		_, ok = v.(float64)
	case KindString:
		_, ok = v.(string)
	case KindFloats:
		_, ok = v.([]float64)
	case KindChannels:
		_, ok = v.(Channels)
	case KindOffset:
		_, ok = v.(Offset)
	}
	if !ok {
		return fmt.Errorf("expected %s, got %v (%T)", k, v, v)
	}
	return nil
}

func cloneValue(v any) any {
	if f, ok := v.([]float64); ok {
		return slices.Clone(f)
	}
	return v
}

// CheckOptions returns what is wrong with a's options: each set value against its
// option's Choices and Check, required options that are missing, then the type's own
// Check. The problems come in declaration order.
func (t *Type) CheckOptions(a BuildArgs) []Problem {
	var ps []Problem
	for _, opt := range t.Options {
		v, set := a.Options.set[opt.Key]
		if !set {
			if opt.Required {
				ps = append(ps, Problem{Key: opt.Key, Msg: "required: " + opt.Kind.String()})
			}
			continue
		}
		if opt.Choices != nil {
			if s := v.(string); !slices.Contains(opt.Choices, s) {
				ps = append(ps, Problem{Key: opt.Key, Msg: fmt.Sprintf("unknown value %q (one of %s)", s, strings.Join(opt.Choices, ", ")),
					Unknown: s, Choices: opt.Choices})
				continue
			}
		}
		if opt.Check != nil {
			if msg := opt.Check(v); msg != "" {
				ps = append(ps, Problem{Key: opt.Key, Msg: msg})
			}
		}
	}
	if t.Check != nil {
		ps = append(ps, t.Check(a)...)
	}
	return ps
}

// Checks shared by the declarations.

// atLeast accepts integers, pairs and channel counts whose every value is ≥ lo.
func atLeast(lo int) func(v any) string {
	return func(v any) string {
		switch x := v.(type) {
		case int:
			if x < lo {
				return fmt.Sprintf("must be ≥ %d, got %d", lo, x)
			}
		case [2]int:
			if x[0] < lo || x[1] < lo {
				return fmt.Sprintf("must be ≥ %d, got %s", lo, PairString(x))
			}
		case Channels:
			if !x.Classes && x.N < lo {
				return fmt.Sprintf("must be ≥ %d, got %d", lo, x.N)
			}
		}
		return ""
	}
}

// finiteNumber reports a usable number (not NaN, not ±Inf).
func finiteNumber(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// numberCheck accepts the numbers ok accepts; want says which ("> 0", "in [0, 1)").
func numberCheck(want string, ok func(x float64) bool) func(v any) string {
	return func(v any) string {
		if x := v.(float64); !ok(x) {
			return fmt.Sprintf("must be %s, got %v", want, x)
		}
		return ""
	}
}

var (
	nonNegative = numberCheck("≥ 0", func(x float64) bool { return finiteNumber(x) && x >= 0 })
	positive    = numberCheck("> 0", func(x float64) bool { return finiteNumber(x) && x > 0 })
	finite      = numberCheck("a finite number", finiteNumber)
)

// PairString writes a pair as an experiment file would: one number, or [h, w].
func PairString(p [2]int) string {
	if p[0] == p[1] {
		return fmt.Sprint(p[0])
	}
	return fmt.Sprintf("[%d, %d]", p[0], p[1])
}

// Options shared by the types with parameters (conv, deconv, batchnorm, prelu).
var (
	optLRMult = Option{Key: "lr_mult", Kind: KindFloat, Default: 1.0, Check: nonNegative,
		Doc: "learning-rate multiplier of every parameter of the layer (Caffe's lr_mult)"}
	optDecayMult = Option{Key: "decay_mult", Kind: KindFloat, Default: 1.0, Check: nonNegative,
		Doc: "weight-decay multiplier of every parameter of the layer (Caffe's decay_mult)"}
	optLearn = Option{Key: "learn", Kind: KindBool, Default: true,
		Doc: "false freezes every parameter of the layer (lr_mult and decay_mult 0)"}
)

// multipliers are the lr and decay multipliers of a layer's parameters, learn applied.
func multipliers(o Options) (lr, decay float64) {
	if !o.Bool("learn") {
		return 0, 0
	}
	return o.Float("lr_mult"), o.Float("decay_mult")
}

// single wraps a one-node builder's result.
func single(a BuildArgs, l Layer, err error) ([]Built, error) {
	if err != nil {
		return nil, err
	}
	return []Built{{Name: a.Name, Layer: l, Inputs: a.Inputs}}, nil
}

// sliceOf turns a pair into the []int form of the layer configs.
func sliceOf(p [2]int) []int { return []int{p[0], p[1]} }

// DefaultString describes the option's default as `fcn layers` and docs show it: the
// value as a file writes it, "= kernel" for a default taken from another option,
// "required", or "-" for none.
func (o *Option) DefaultString() string {
	switch {
	case o.Required:
		return "required"
	case o.DefaultFrom != "":
		return "= " + o.DefaultFrom
	case o.DefaultDoc != "":
		return o.DefaultDoc
	case o.Default == nil:
		return "-"
	}
	return FormatValue(o.Default)
}

// FormatValue writes an option value as an experiment file would: a square pair as one
// number, `classes`, `auto`, lists in brackets.
func FormatValue(v any) string {
	switch x := v.(type) {
	case [2]int:
		return PairString(x)
	case Channels:
		if x.Classes {
			return "classes"
		}
		return fmt.Sprint(x.N)
	case Offset:
		if x.Auto {
			return "auto"
		}
		return PairString(x.HW)
	case []float64:
		parts := make([]string, len(x))
		for i, f := range x {
			parts[i] = fmt.Sprint(f)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return fmt.Sprint(v)
}
