package configs

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// LayerSpec is one entry of model.layers: a named layer, its type, its inputs and its
// options as written (nil or "" where the file leaves the layer's default). After Load,
// Inputs is always explicit and a deconv's Mode reflects model.upsample.
//
// The getters return the option's value with the default of the layers package filled in,
// so a model builder reads them directly; fields of the embedded Options are the raw,
// possibly unset, values.
type LayerSpec struct {
	Name    string   `yaml:"name"`
	Type    string   `yaml:"type"`
	Inputs  []string `yaml:"inputs,omitempty"` // layer names, or "data" for the image batch
	Options `yaml:",inline"`
}

// Options are the layer options of every type; which ones a type accepts is checked by
// Load (see LayerOptions).
type Options struct {
	// conv, deconv.
	Out      *Out     `yaml:"out,omitempty"` // channels, or `classes` for model.classes
	Kernel   *Pair    `yaml:"kernel,omitempty"`
	Stride   *Pair    `yaml:"stride,omitempty"`
	Pad      *Pair    `yaml:"pad,omitempty"`
	Dilation *Pair    `yaml:"dilation,omitempty"`
	Groups   *int     `yaml:"groups,omitempty"`
	Bias     *bool    `yaml:"bias,omitempty"`
	Init     string   `yaml:"init,omitempty"`
	Std      *float64 `yaml:"std,omitempty"`

	// deconv.
	OutputPadding *Pair `yaml:"output_padding,omitempty"`
	Same          *bool `yaml:"same,omitempty"`
	// Mode is the deconv's upsampling mode (UpsampleModes), or resize's interpolation
	// (nearest, bilinear).
	Mode string `yaml:"mode,omitempty"`

	// maxpool.
	Ceil *bool `yaml:"ceil,omitempty"`
	// dropout.
	P *float64 `yaml:"p,omitempty"`
	// crop.
	Offset *Offset `yaml:"offset,omitempty"`
	// sum.
	Coeffs []float64 `yaml:"coeffs,omitempty"`
	// batchnorm.
	Eps      *float64 `yaml:"eps,omitempty"`
	Momentum *float64 `yaml:"momentum,omitempty"`
	// resize.
	Factor *Pair `yaml:"factor,omitempty"`

	// Layers with parameters (conv, deconv, batchnorm).
	LRMult    *float64 `yaml:"lr_mult,omitempty"`
	DecayMult *float64 `yaml:"decay_mult,omitempty"`
	Learn     *bool    `yaml:"learn,omitempty"` // false freezes every parameter of the layer
}

// Pair is a spatial option: one value for both axes (`3`) or a [h, w] pair (`[3, 5]`).
type Pair [2]int

// Out is a layer's output channel count: a number, or `classes` (model.classes).
type Out struct {
	N       int
	Classes bool
}

// Offset is a crop's offset: `auto` (Caffe's coord_map), a number, or a [h, w] pair.
type Offset struct {
	Auto bool
	HW   [2]int
}

// Layer types and the options each accepts besides name, type and inputs.
var layerOptions = map[string][]string{
	"conv":      {"out", "kernel", "stride", "pad", "dilation", "groups", "bias", "init", "std", "lr_mult", "decay_mult", "learn"},
	"deconv":    {"out", "kernel", "stride", "pad", "dilation", "groups", "bias", "init", "std", "lr_mult", "decay_mult", "learn", "output_padding", "same", "mode"},
	"maxpool":   {"kernel", "stride", "pad", "ceil"},
	"relu":      {},
	"dropout":   {"p"},
	"crop":      {"offset"},
	"sum":       {"coeffs"},
	"batchnorm": {"eps", "momentum", "lr_mult", "decay_mult", "learn"},
	"resize":    {"factor", "mode"},
}

var commonKeys = []string{"name", "type", "inputs"}

// LayerTypes lists the layer types an experiment may use, sorted.
func LayerTypes() []string {
	types := make([]string, 0, len(layerOptions))
	for t := range layerOptions {
		types = append(types, t)
	}
	sort.Strings(types)
	return types
}

// LayerOptions lists the keys a layer of type t accepts (name, type and inputs first),
// or nil for an unknown type.
func LayerOptions(t string) []string {
	opts, ok := layerOptions[t]
	if !ok {
		return nil
	}
	return append(slices.Clone(commonKeys), opts...)
}

var (
	convInits   = []string{"he", "xavier", "gaussian", "zero"}
	deconvInits = []string{"bilinear", "he", "xavier", "gaussian", "zero"}
	resizeModes = []string{"nearest", "bilinear"}
)

// label names a layer in messages: `model.layers[3] (upscore2)`.
func layerLabel(i int, name string) string {
	if name == "" {
		return fmt.Sprintf("model.layers[%d]", i)
	}
	return fmt.Sprintf("model.layers[%d] (%s)", i, name)
}

// Getters: the option's value, or the default the layers package applies when it is
// not given.

// OutChannels is the output channel count, resolving `classes`; 0 if not given.
func (l *LayerSpec) OutChannels(classes int) int {
	switch {
	case l.Out == nil:
		return 0
	case l.Out.Classes:
		return classes
	}
	return l.Out.N
}

func pairOr(p *Pair, def [2]int) [2]int {
	if p == nil {
		return def
	}
	return *p
}

// KernelSize is the kernel (conv, deconv, maxpool); {0, 0} if not given.
func (l *LayerSpec) KernelSize() [2]int { return pairOr(l.Kernel, [2]int{}) }

// StrideHW is the stride: default the kernel for maxpool, 1 otherwise.
func (l *LayerSpec) StrideHW() [2]int {
	if l.Type == "maxpool" {
		return pairOr(l.Stride, l.KernelSize())
	}
	return pairOr(l.Stride, [2]int{1, 1})
}

// PadHW is the padding; default 0.
func (l *LayerSpec) PadHW() [2]int { return pairOr(l.Pad, [2]int{}) }

// DilationHW is the dilation; default 1.
func (l *LayerSpec) DilationHW() [2]int { return pairOr(l.Dilation, [2]int{1, 1}) }

// OutputPaddingHW is a deconv's output padding; default 0.
func (l *LayerSpec) OutputPaddingHW() [2]int { return pairOr(l.OutputPadding, [2]int{}) }

// FactorHW is a resize's factor; {0, 0} if not given.
func (l *LayerSpec) FactorHW() [2]int { return pairOr(l.Factor, [2]int{}) }

// GroupCount is the number of groups; default 1.
func (l *LayerSpec) GroupCount() int {
	if l.Groups == nil {
		return 1
	}
	return *l.Groups
}

func boolOr(b *bool, def bool) bool {
	if b == nil {
		return def
	}
	return *b
}

func floatOr(f *float64, def float64) float64 {
	if f == nil {
		return def
	}
	return *f
}

// HasBias reports whether a conv/deconv has a bias; default true.
func (l *LayerSpec) HasBias() bool { return boolOr(l.Bias, true) }

// Learnable reports learn; default true. (A deconv's mode may still freeze it.)
func (l *LayerSpec) Learnable() bool { return boolOr(l.Learn, true) }

// LRMultiplier is lr_mult; default 1.
func (l *LayerSpec) LRMultiplier() float64 { return floatOr(l.LRMult, 1) }

// DecayMultiplier is decay_mult; default 1.
func (l *LayerSpec) DecayMultiplier() float64 { return floatOr(l.DecayMult, 1) }

// InitName is the weight initialisation: default "bilinear" for deconv, "he" for conv.
func (l *LayerSpec) InitName() string {
	switch {
	case l.Init != "":
		return l.Init
	case l.Type == "deconv":
		return "bilinear"
	}
	return "he"
}

// StdDev is std for init gaussian; 0 if not given.
func (l *LayerSpec) StdDev() float64 { return floatOr(l.Std, 0) }

// IsSame reports a deconv's `same` (TensorFlow's SAME); default false.
func (l *LayerSpec) IsSame() bool { return boolOr(l.Same, false) }

// CeilMode reports a maxpool's ceil; default false.
func (l *LayerSpec) CeilMode() bool { return boolOr(l.Ceil, false) }

// DropProb is a dropout's p; default 0.5.
func (l *LayerSpec) DropProb() float64 { return floatOr(l.P, 0.5) }

// CropOffset is a crop's offset; auto (true) by default.
func (l *LayerSpec) CropOffset() (hw [2]int, auto bool) {
	if l.Offset == nil || l.Offset.Auto {
		return [2]int{}, true
	}
	return l.Offset.HW, false
}

// SumCoeffs is a sum's coefficients, one per input; all 1 by default.
func (l *LayerSpec) SumCoeffs() []float64 {
	if l.Coeffs != nil {
		return slices.Clone(l.Coeffs)
	}
	c := make([]float64, len(l.Inputs))
	for i := range c {
		c[i] = 1
	}
	return c
}

// BNEps is a batchnorm's eps; default 1e-5.
func (l *LayerSpec) BNEps() float64 { return floatOr(l.Eps, 1e-5) }

// BNMomentum is a batchnorm's momentum (PyTorch's meaning); default 0.1.
func (l *LayerSpec) BNMomentum() float64 { return floatOr(l.Momentum, 0.1) }

// ResizeMode is a resize's interpolation; default "bilinear".
func (l *LayerSpec) ResizeMode() string {
	if l.Mode == "" {
		return "bilinear"
	}
	return l.Mode
}

// Layer returns the layer named name, or nil.
func (m *Model) Layer(name string) *LayerSpec {
	for i := range m.Layers {
		if m.Layers[i].Name == name {
			return &m.Layers[i]
		}
	}
	return nil
}

// Output is the name of the layer whose output the loss reads: the last one.
func (m *Model) Output() string {
	if len(m.Layers) == 0 {
		return ""
	}
	return m.Layers[len(m.Layers)-1].Name
}

// Order returns the layer indices in an order where every layer comes after its inputs:
// file order wherever the file allows it (inputs may name later layers). Load has checked
// that there is no cycle; Order returns an error if there is one.
func (m *Model) Order() ([]int, error) {
	index := make(map[string]int, len(m.Layers))
	for i, l := range m.Layers {
		index[l.Name] = i
	}
	pending := make([]int, len(m.Layers)) // inputs not yet placed
	users := make([][]int, len(m.Layers))
	for i, l := range m.Layers {
		for _, in := range l.Inputs {
			if j, ok := index[in]; ok {
				pending[i]++
				users[j] = append(users[j], i)
			}
		}
	}
	order := make([]int, 0, len(m.Layers))
	placed := make([]bool, len(m.Layers))
	// Repeatedly place the first layer in file order whose inputs are all placed: O(n²),
	// fine for networks of tens of layers, and it keeps file order when possible.
	for len(order) < len(m.Layers) {
		next := -1
		for i := range m.Layers {
			if !placed[i] && pending[i] == 0 {
				next = i
				break
			}
		}
		if next < 0 {
			return nil, fmt.Errorf("model.layers: %s", describeCycle(m, placed))
		}
		placed[next] = true
		order = append(order, next)
		for _, u := range users[next] {
			pending[u]--
		}
	}
	return order, nil
}

// describeCycle names one cycle among the unplaced layers: "cycle: a → b → a".
func describeCycle(m *Model, placed []bool) string {
	index := make(map[string]int, len(m.Layers))
	for i, l := range m.Layers {
		index[l.Name] = i
	}
	start := -1
	for i := range m.Layers {
		if !placed[i] {
			start = i
			break
		}
	}
	// Walk backwards along unplaced inputs until a layer repeats.
	seen := map[int]int{}
	var path []int
	for cur := start; ; {
		if at, ok := seen[cur]; ok {
			// path runs against the data flow; reverse it and start at the layer that
			// comes first in the file.
			cyc := slices.Clone(path[at:])
			slices.Reverse(cyc)
			first := slices.Index(cyc, slices.Min(cyc))
			cyc = append(cyc[first:], cyc[:first]...)
			names := make([]string, 0, len(cyc)+1)
			for _, k := range cyc {
				names = append(names, m.Layers[k].Name)
			}
			names = append(names, names[0])
			return "cycle: " + strings.Join(names, " → ")
		}
		seen[cur] = len(path)
		path = append(path, cur)
		next := -1
		for _, in := range m.Layers[cur].Inputs {
			if j, ok := index[in]; ok && !placed[j] {
				next = j
				break
			}
		}
		if next < 0 {
			return "cycle among " + m.Layers[cur].Name
		}
		cur = next
	}
}
