package layers

import (
	"fmt"
	"strings"

	"gorgonia.org/tensor"
)

// Resize modes.
const (
	ResizeNearest  = "nearest"
	ResizeBilinear = "bilinear"
)

// ResizeConfig holds resize's hyper-parameters.
type ResizeConfig struct {
	// Factor is the integer upsampling factor: one value (both axes) or [h, w], ≥ 1.
	Factor []int
	// Mode is "nearest" or "bilinear".
	Mode string
}

// Resize upsamples N×C×H×W to N×C×(H·fh)×(W·fw) with no parameters, as PyTorch's
// F.interpolate(x, scale_factor=f, mode=...) with align_corners=False: output pixel o
// reads input coordinate (o + 0.5)/f − 0.5, clamped below at 0, interpolated linearly
// (bilinear) or taken as ⌊o/f⌋ (nearest). Backward is the exact adjoint of Forward.
// It is a `resize` layer of an experiment (parameter-free upsampling, as in PyTorch) and
// the nearest-neighbour step that the model builder puts before the conv of a deconv in
// mode `resize_conv`.
type Resize struct {
	name, prefix string
	factor       [2]int
	bilinear     bool
	n, c, h, w   int
	oh, ow       int
	// Bilinear tables per output row (H) and column (W): the two source indices and
	// their weights.
	rows, cols resizeTaps
}

type resizeTaps struct {
	i0, i1     []int32
	lam0, lam1 []float64
}

// NewResize validates cfg and returns the layer.
func NewResize(name string, cfg ResizeConfig) (*Resize, error) {
	prefix := layerPrefix("resize", name)
	if cfg.Factor == nil {
		return nil, fmt.Errorf("%s: factor is required", prefix)
	}
	f, err := spatialPair(prefix, "factor", cfg.Factor, [2]int{}, 1)
	if err != nil {
		return nil, err
	}
	l := &Resize{name: name, prefix: prefix, factor: f}
	switch cfg.Mode {
	case ResizeBilinear:
		l.bilinear = true
	case ResizeNearest:
	default:
		return nil, fmt.Errorf("%s: mode must be %q or %q, got %q", prefix, ResizeNearest, ResizeBilinear, cfg.Mode)
	}
	return l, nil
}

// Name is the layer's node name.
func (l *Resize) Name() string { return l.name }

// Type implements Layer.
func (l *Resize) Type() string { return "resize" }

// Params implements Layer: resize has none.
func (l *Resize) Params() []*Param { return nil }

// CoordMap implements CoordMapper in Caffe's convention (the one the numbers in
// CoordMapper's comment follow: output = scale·input + offset). Input pixel i's centre
// lands at output coordinate f·i + (f−1)/2, in both modes (output o reads
// (o+0.5)/f − 0.5): scale f, offset (f−1)/2 — the same as a deconv with kernel 2f,
// stride f and pad f/2, whose interior it reproduces.
func (l *Resize) CoordMap() (scale, offset [2]float64) {
	for a := range 2 {
		f := float64(l.factor[a])
		scale[a], offset[a] = f, (f-1)/2
	}
	return scale, offset
}

// Footprint implements Footprinter: the input scaled by the factor, and the tables of
// taps per output row and column.
func (l *Resize) Footprint(in []tensor.Shape) (Footprint, error) {
	if len(in) != 1 || len(in[0]) != 4 {
		return Footprint{}, fmt.Errorf("%s: wants one N×C×H×W input, got %v", l.prefix, in)
	}
	if err := checkDims(l.prefix, in); err != nil {
		return Footprint{}, err
	}
	if l.factor[0] > MaxDim/4 || l.factor[1] > MaxDim/4 {
		return Footprint{}, fmt.Errorf("%s: factor %v is beyond any image", l.prefix, l.factor)
	}
	oh, ow := in[0][2]*l.factor[0], in[0][3]*l.factor[1]
	if oh > MaxDim || ow > MaxDim {
		return Footprint{}, fmt.Errorf("%s: %d×%d scaled by %v is %d×%d: beyond any image", l.prefix, in[0][2], in[0][3], l.factor, oh, ow)
	}
	return Footprint{Out: tensor.Shape{in[0][0], in[0][1], oh, ow}, Scratch: 4 * int64(oh+ow)}, nil
}

// Setup implements Layer.
func (l *Resize) Setup(in []tensor.Shape, dt tensor.Dtype) (tensor.Shape, error) {
	if err := checkInputCount(l.prefix, in, 1); err != nil {
		return nil, err
	}
	if err := checkFloatDtype(l.prefix, dt); err != nil {
		return nil, err
	}
	if err := checkNCHW(l.prefix, "input", in[0]); err != nil {
		return nil, err
	}
	l.n, l.c, l.h, l.w = in[0][0], in[0][1], in[0][2], in[0][3]
	l.oh, l.ow = l.h*l.factor[0], l.w*l.factor[1]
	l.rows.build(l.h, l.factor[0])
	l.cols.build(l.w, l.factor[1])
	return tensor.Shape{l.n, l.c, l.oh, l.ow}, nil
}

// build fills the taps for one axis as PyTorch's upsample_bilinear2d with
// align_corners=False and a given scale factor: src = max((o+0.5)/f − 0.5, 0),
// i0 = ⌊src⌋, i1 = min(i0+1, in−1), λ1 = src − i0, λ0 = 1 − λ1.
func (t *resizeTaps) build(in, f int) {
	out := in * f
	t.i0, t.i1 = growSlice(t.i0, out), growSlice(t.i1, out)
	t.lam0, t.lam1 = growSlice(t.lam0, out), growSlice(t.lam1, out)
	for o := range out {
		src := max((float64(o)+0.5)/float64(f)-0.5, 0)
		i0 := int(src)
		i1 := min(i0+1, in-1)
		lam1 := src - float64(i0)
		t.i0[o], t.i1[o], t.lam0[o], t.lam1[o] = int32(i0), int32(i1), 1-lam1, lam1
	}
}

// Forward implements Layer.
func (l *Resize) Forward(in []*tensor.Dense, out *tensor.Dense) {
	if isFloat32(out) {
		resizeForward(l, floatsOf[float32](in[0]), floatsOf[float32](out))
	} else {
		resizeForward(l, floatsOf[float64](in[0]), floatsOf[float64](out))
	}
}

// Backward implements Layer: the transpose of Forward's linear map.
func (l *Resize) Backward(in []*tensor.Dense, out, dOut *tensor.Dense, dIn []*tensor.Dense) {
	if dIn[0] == nil {
		return
	}
	if isFloat32(dOut) {
		resizeBackward(l, floatsOf[float32](dOut), floatsOf[float32](dIn[0]))
	} else {
		resizeBackward(l, floatsOf[float64](dOut), floatsOf[float64](dIn[0]))
	}
}

func resizeForward[T Float](l *Resize, x, y []T) {
	plane, oplane := l.h*l.w, l.oh*l.ow
	fh, fw := l.factor[0], l.factor[1]
	for nc := 0; nc < l.n*l.c; nc++ {
		xp, yp := x[nc*plane:][:plane], y[nc*oplane:][:oplane]
		for oh := 0; oh < l.oh; oh++ {
			yr := yp[oh*l.ow:][:l.ow]
			if !l.bilinear {
				if oh%fh != 0 { // same source row as the row above
					copy(yr, yp[(oh-1)*l.ow:][:l.ow])
					continue
				}
				for iw, v := range xp[(oh/fh)*l.w:][:l.w] {
					for k := range fw {
						yr[iw*fw+k] = v
					}
				}
				continue
			}
			r0, r1 := xp[int(l.rows.i0[oh])*l.w:][:l.w], xp[int(l.rows.i1[oh])*l.w:][:l.w]
			a0, a1 := T(l.rows.lam0[oh]), T(l.rows.lam1[oh])
			for ow := range yr {
				c0, c1 := l.cols.i0[ow], l.cols.i1[ow]
				b0, b1 := T(l.cols.lam0[ow]), T(l.cols.lam1[ow])
				yr[ow] = a0*(b0*r0[c0]+b1*r0[c1]) + a1*(b0*r1[c0]+b1*r1[c1])
			}
		}
	}
}

func resizeBackward[T Float](l *Resize, dy, dx []T) {
	plane, oplane := l.h*l.w, l.oh*l.ow
	fh, fw := l.factor[0], l.factor[1]
	for nc := 0; nc < l.n*l.c; nc++ {
		dxp, dyp := dx[nc*plane:][:plane], dy[nc*oplane:][:oplane]
		for oh := 0; oh < l.oh; oh++ {
			gr := dyp[oh*l.ow:][:l.ow]
			if !l.bilinear {
				dr := dxp[(oh/fh)*l.w:][:l.w]
				for iw := range dr {
					var g T
					for _, v := range gr[iw*fw:][:fw] {
						g += v
					}
					dr[iw] += g
				}
				continue
			}
			r0, r1 := dxp[int(l.rows.i0[oh])*l.w:][:l.w], dxp[int(l.rows.i1[oh])*l.w:][:l.w]
			a0, a1 := T(l.rows.lam0[oh]), T(l.rows.lam1[oh])
			for ow, g := range gr {
				c0, c1 := l.cols.i0[ow], l.cols.i1[ow]
				b0, b1 := T(l.cols.lam0[ow]), T(l.cols.lam1[ow])
				r0[c0] += a0 * b0 * g
				r0[c1] += a0 * b1 * g
				r1[c0] += a1 * b0 * g
				r1[c1] += a1 * b1 * g
			}
		}
	}
}

func init() {
	Register(&Type{
		Name:   "resize",
		Doc:    "parameter-free upsampling by an integer factor (PyTorch's F.interpolate, align_corners=False)",
		Inputs: Arity{1, 1},
		Options: []Option{
			// mode before factor: the order files and digests have always written them in.
			{Key: "mode", Kind: KindString, Default: ResizeBilinear, Choices: []string{ResizeNearest, ResizeBilinear}, Doc: "interpolation"},
			{Key: "factor", Kind: KindPair, Required: true, Check: atLeast(1), Doc: "upsampling factor"},
		},
		Build: func(a BuildArgs) ([]Built, error) {
			l, err := NewResize(a.Name, ResizeConfig{Factor: sliceOf(a.Options.Pair("factor")), Mode: a.Options.String("mode")})
			return single(a, l, err)
		},
		GradCases: func() []GradCase {
			var cs []GradCase
			for i, tc := range []struct {
				mode   string
				factor []int
				in     tensor.Shape
			}{
				{ResizeBilinear, ints(2), tensor.Shape{1, 2, 5, 7}},
				{ResizeBilinear, ints(3, 2), tensor.Shape{2, 3, 3, 5}},
				{ResizeBilinear, ints(1), tensor.Shape{1, 1, 3, 3}},
				{ResizeNearest, ints(2), tensor.Shape{2, 2, 3, 5}},
				{ResizeNearest, ints(2, 3), tensor.Shape{1, 3, 5, 3}},
			} {
				f := make([]string, len(tc.factor))
				for k, v := range tc.factor {
					f[k] = fmt.Sprint(v)
				}
				sh := make([]string, len(tc.in))
				for k, d := range tc.in {
					sh[k] = fmt.Sprint(d)
				}
				name := fmt.Sprintf("%s_x%s_%s", tc.mode, strings.Join(f, "x"), strings.Join(sh, "x"))
				cs = append(cs, GradCase{Name: name, Eps: EpsLinear, In: []tensor.Shape{tc.in}, Seed: uint64(1000 + i), Want: []string{"input0"},
					Make: func() (Layer, error) { return NewResize("resize", ResizeConfig{Mode: tc.mode, Factor: tc.factor}) }})
			}
			return cs
		},
		GradVariants: []string{"nearest", "bilinear"},
		ONNX:         "Resize", Torch: "nn.Upsample",
		CaffeWhyNot: "BVLC Caffe has no resize layer (FCN upsamples with Deconvolution)",
		ONNXExport:  onnxResize,
	})
}

func onnxResize(a ONNXArgs) (ONNXOut, error) {
	l, err := onnxLayer[*Resize](a)
	if err != nil {
		return ONNXOut{}, err
	}
	// fcn's coordinates are PyTorch's align_corners=False: (o+0.5)/f−0.5, clamped at 0,
	// for bilinear (ONNX half_pixel; the clamp is ONNX's too); ⌊o/f⌋ for nearest (ONNX
	// asymmetric with floor).
	attrs := map[string]any{"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}
	if l.bilinear {
		attrs = map[string]any{"mode": "linear", "coordinate_transformation_mode": "half_pixel"}
	}
	scales := a.Name + "/scales"
	return ONNXOut{
		Consts: []ONNXConst{{Name: scales, Dims: []int{4}, Floats: []float32{1, 1, float32(l.factor[0]), float32(l.factor[1])}}},
		Nodes:  []ONNXNode{{Op: "Resize", Inputs: []string{a.Inputs[0], "", scales}, Outputs: []string{a.Name}, Attrs: attrs}},
	}, nil
}
