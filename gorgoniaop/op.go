package gorgoniaop

import (
	"fmt"
	"hash"
	"hash/fnv"

	"github.com/chewxy/hm"
	"github.com/fcn-dev/fcn/layers"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// ConvOptions are the hyper-parameters of Conv2d and ConvTranspose2d, per spatial axis
// (H, W), as PyTorch's Conv2d and ConvTranspose2d. A zero value means PyTorch's default:
// stride 1, pad 0, dilation 1, groups 1, output_padding 0.
type ConvOptions struct {
	Stride, Pad, Dilation [2]int
	Groups                int
	// OutputPadding (transposed convolution only) adds rows/columns at the
	// bottom/right of the output; each must be < stride or < dilation.
	OutputPadding [2]int
}

// withDefaults fills PyTorch's defaults into zero fields and rejects negative ones.
func (o ConvOptions) withDefaults() (ConvOptions, error) {
	for a := range 2 {
		if o.Stride[a] < 0 || o.Pad[a] < 0 || o.Dilation[a] < 0 || o.OutputPadding[a] < 0 {
			return o, fmt.Errorf("options %+v: stride, pad, dilation and output_padding must not be negative", o)
		}
		if o.Stride[a] == 0 {
			o.Stride[a] = 1
		}
		if o.Dilation[a] == 0 {
			o.Dilation[a] = 1
		}
	}
	if o.Groups < 0 {
		return o, fmt.Errorf("options: groups %d must not be negative", o.Groups)
	}
	if o.Groups == 0 {
		o.Groups = 1
	}
	return o, nil
}

// geometry is one (transposed) convolution's options, with defaults filled in.
type geometry struct {
	transposed bool
	o          ConvOptions
}

func (g geometry) name() string {
	if g.transposed {
		return "ConvTranspose2d"
	}
	return "Conv2d"
}

func (g geometry) String() string {
	s := fmt.Sprintf("%s{stride %v, pad %v, dilation %v, groups %d", g.name(), g.o.Stride, g.o.Pad, g.o.Dilation, g.o.Groups)
	if g.transposed {
		s += fmt.Sprintf(", output_padding %v", g.o.OutputPadding)
	}
	return s + "}"
}

// outShape checks the shapes of x (N, C, H, W) and w, PyTorch's layouts (conv
// (out, in/groups, kh, kw), transposed (in, out/groups, kh, kw)), and returns y's.
func (g geometry) outShape(x, w tensor.Shape) (tensor.Shape, error) {
	if len(x) != 4 {
		return nil, fmt.Errorf("%s: input has shape %v, want 4-D (N, C, H, W)", g.name(), x)
	}
	if len(w) != 4 {
		return nil, fmt.Errorf("%s: weight has shape %v, want 4-D", g.name(), w)
	}
	for _, s := range []tensor.Shape{x, w} {
		for _, d := range s {
			if d < 1 {
				return nil, fmt.Errorf("%s: shape %v has a dimension < 1", g.name(), s)
			}
		}
	}
	o, gr := g.o, g.o.Groups
	if x[1]%gr != 0 {
		return nil, fmt.Errorf("%s: groups %d does not divide the %d input channels", g.name(), gr, x[1])
	}
	out := make(tensor.Shape, 4)
	out[0] = x[0]
	if g.transposed {
		if w[0] != x[1] {
			return nil, fmt.Errorf("%s: weight %v wants (in %d, out/groups, kh, kw) with in = the input's %d channels",
				g.name(), w, w[0], x[1])
		}
		out[1] = w[1] * gr
	} else {
		if w[1]*gr != x[1] {
			return nil, fmt.Errorf("%s: weight %v wants (out, in/groups, kh, kw) with in/groups = %d/%d = %d, got %d",
				g.name(), w, x[1], gr, x[1]/gr, w[1])
		}
		if w[0]%gr != 0 {
			return nil, fmt.Errorf("%s: groups %d does not divide the %d output channels of weight %v", g.name(), gr, w[0], w)
		}
		out[1] = w[0]
	}
	for a := range 2 {
		ke := o.Dilation[a]*(w[2+a]-1) + 1
		if g.transposed {
			if o.OutputPadding[a] >= o.Stride[a] && o.OutputPadding[a] >= o.Dilation[a] {
				return nil, fmt.Errorf("%s: output_padding %v must be smaller than stride %v or dilation %v",
					g.name(), o.OutputPadding, o.Stride, o.Dilation)
			}
			out[2+a] = (x[2+a]-1)*o.Stride[a] - 2*o.Pad[a] + ke + o.OutputPadding[a]
		} else {
			if o.OutputPadding[a] != 0 {
				return nil, fmt.Errorf("%s: output_padding %v applies to ConvTranspose2d only", g.name(), o.OutputPadding)
			}
			out[2+a] = (x[2+a]+2*o.Pad[a]-ke)/o.Stride[a] + 1
			if x[2+a]+2*o.Pad[a] < ke {
				out[2+a] = 0
			}
		}
	}
	if out[2] < 1 || out[3] < 1 {
		return nil, fmt.Errorf("%s: input %v with weight %v, pad %v, stride %v, dilation %v gives no output (%d×%d)",
			g.name(), x, w, o.Pad, o.Stride, o.Dilation, out[2], out[3])
	}
	return out, nil
}

// layer builds a fresh fcn layer for these shapes with w copied into its weight. A
// layer per call keeps the ops stateless, so one graph may run on several goroutines.
func (g geometry) layer(x, w *tensor.Dense) (layers.Layer, *layers.Param, tensor.Shape, error) {
	ys, err := g.outShape(x.Shape(), w.Shape())
	if err != nil {
		return nil, nil, nil, err
	}
	if x.Dtype() != w.Dtype() || (x.Dtype() != tensor.Float32 && x.Dtype() != tensor.Float64) {
		return nil, nil, nil, fmt.Errorf("%s: input is %v and weight %v, want both float32 or both float64", g.name(), x.Dtype(), w.Dtype())
	}
	o, no := g.o, false
	cc := layers.ConvConfig{
		Out: ys[1], Kernel: []int{w.Shape()[2], w.Shape()[3]},
		Stride: o.Stride[:], Pad: o.Pad[:], Dilation: o.Dilation[:], Groups: o.Groups,
		Bias: &no, Init: "zero",
	}
	var l layers.Layer
	if g.transposed {
		l, err = layers.NewDeconv("", layers.DeconvConfig{ConvConfig: cc, OutputPadding: o.OutputPadding[:]})
	} else {
		l, err = layers.NewConv("", cc)
	}
	if err != nil {
		return nil, nil, nil, err
	}
	if _, err := l.Setup([]tensor.Shape{x.Shape().Clone()}, x.Dtype()); err != nil {
		return nil, nil, nil, err
	}
	p := l.Params()[0]
	if err := tensor.Copy(p.Value, w); err != nil {
		return nil, nil, nil, fmt.Errorf("%s: copying the weight: %w", g.name(), err)
	}
	return l, p, ys, nil
}

// forward is y = op(x, w).
func (g geometry) forward(x, w *tensor.Dense) (*tensor.Dense, error) {
	l, _, ys, err := g.layer(x, w)
	if err != nil {
		return nil, err
	}
	y := tensor.New(tensor.WithShape(ys...), tensor.Of(x.Dtype()))
	l.Forward([]*tensor.Dense{x}, y)
	return y, nil
}

// backward returns the gradients of L wrt x and w, given dy = ∂L/∂y.
// Without wantDx only dw is computed (dx is nil).
func (g geometry) backward(x, w, dy *tensor.Dense, wantDx bool) (dx, dw *tensor.Dense, err error) {
	l, p, ys, err := g.layer(x, w)
	if err != nil {
		return nil, nil, err
	}
	if !dy.Shape().Eq(ys) || dy.Dtype() != x.Dtype() {
		return nil, nil, fmt.Errorf("%s: output gradient is %v %v, want %v %v", g.name(), dy.Dtype(), dy.Shape(), x.Dtype(), ys)
	}
	if wantDx {
		dx = tensor.New(tensor.WithShape(x.Shape().Clone()...), tensor.Of(x.Dtype()))
	}
	y := tensor.New(tensor.WithShape(ys...), tensor.Of(x.Dtype())) // unused by conv/deconv Backward
	l.Backward([]*tensor.Dense{x}, y, dy, []*tensor.Dense{dx})
	return dx, p.Grad, nil
}

// dense asserts that v is a *tensor.Dense.
func dense(op fmt.Stringer, what string, v G.Value) (*tensor.Dense, error) {
	d, ok := v.(*tensor.Dense)
	if !ok {
		return nil, fmt.Errorf("%v: %s is a %T, want a *tensor.Dense", op, what, v)
	}
	return d, nil
}

func hashOf(s fmt.Stringer) uint32 {
	h := fnv.New32a()
	fmt.Fprint(h, s.String())
	return h.Sum32()
}

func shapeOf(op fmt.Stringer, d G.DimSizer) (tensor.Shape, error) {
	s, ok := d.(tensor.Shape)
	if !ok {
		return nil, fmt.Errorf("%v: expected a tensor.Shape, got %T", op, d)
	}
	return s, nil
}

// convOp is y = conv(x, w) or y = conv_transpose(x, w): a gorgonia.Op with symbolic
// (SDOp) and automatic (ADOp) differentiation.
type convOp struct{ g geometry }

var (
	_ G.SDOp = convOp{}
	_ G.ADOp = convOp{}
)

func (op convOp) Arity() int { return 2 }

func (op convOp) Type() hm.Type {
	t := G.TensorType{Dims: 4, Of: hm.TypeVariable('a')}
	return hm.NewFnType(t, t, t)
}

func (op convOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	if len(in) != 2 {
		return nil, fmt.Errorf("%v: want 2 input shapes (x, w), got %d", op, len(in))
	}
	x, err := shapeOf(op, in[0])
	if err != nil {
		return nil, err
	}
	w, err := shapeOf(op, in[1])
	if err != nil {
		return nil, err
	}
	return op.g.outShape(x, w)
}

func (op convOp) Do(in ...G.Value) (G.Value, error) {
	if len(in) != 2 {
		return nil, fmt.Errorf("%v: want 2 inputs (x, w), got %d", op, len(in))
	}
	x, err := dense(op, "input", in[0])
	if err != nil {
		return nil, err
	}
	w, err := dense(op, "weight", in[1])
	if err != nil {
		return nil, err
	}
	return op.g.forward(x, w)
}

func (op convOp) ReturnsPtr() bool      { return false }
func (op convOp) CallsExtern() bool     { return false }
func (op convOp) OverwritesInput() int  { return -1 }
func (op convOp) WriteHash(h hash.Hash) { fmt.Fprint(h, op.String()) }
func (op convOp) Hashcode() uint32      { return hashOf(op) }
func (op convOp) String() string        { return op.g.String() }
func (op convOp) DiffWRT(n int) []bool  { return []bool{true, true} }

// SymDiff returns the gradients wrt x and w as nodes of gradOp, so the graph holds them
// symbolically.
func (op convOp) SymDiff(in G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	if len(in) != 2 {
		return nil, fmt.Errorf("%v: want 2 inputs (x, w), got %d", op, len(in))
	}
	dx, err := op.adjoint(in[0], in[1], grad)
	if err != nil {
		return nil, fmt.Errorf("%v: input gradient: %w", op, err)
	}
	dw, err := G.ApplyOp(gradOp{g: op.g, wrt: 1}, in[0], in[1], grad)
	if err != nil {
		return nil, fmt.Errorf("%v: weight gradient: %w", op, err)
	}
	return G.Nodes{dx, dw}, nil
}

// adjoint is the input gradient as a node: a conv's is the transposed conv of dy with
// the same weight and options (the output_padding that restores x's size), a
// transposed conv's the conv of dy — so it is itself differentiable. Where no such
// options exist (output_padding ≥ stride, allowed below the dilation) it is a gradOp.
func (op convOp) adjoint(x, w, dy *G.Node) (*G.Node, error) {
	a := geometry{transposed: !op.g.transposed, o: op.g.o}
	a.o.OutputPadding = [2]int{}
	if !op.g.transposed {
		ys := dy.Shape()
		for i := range 2 {
			ke := a.o.Dilation[i]*(w.Shape()[2+i]-1) + 1
			a.o.OutputPadding[i] = x.Shape()[2+i] - ((ys[2+i]-1)*a.o.Stride[i] - 2*a.o.Pad[i] + ke)
		}
	}
	if s, err := a.outShape(dy.Shape(), w.Shape()); err == nil && s.Eq(x.Shape()) {
		return G.ApplyOp(convOp{g: a}, dy, w)
	}
	return G.ApplyOp(gradOp{g: op.g, wrt: 0}, x, w, dy)
}

// DoDiff adds the gradients wrt x and w into the inputs' dual values: gorgonia's
// automatic differentiation, run by its LispMachine.
func (op convOp) DoDiff(_ G.ExecutionContext, in G.Nodes, output *G.Node) error {
	if len(in) != 2 {
		return fmt.Errorf("%v: want 2 inputs (x, w), got %d", op, len(in))
	}
	vals := make([]*tensor.Dense, 3)
	for i, n := range []*G.Node{in[0], in[1], output} {
		var err error
		if vals[i], err = dense(op, n.Name(), n.Value()); err != nil {
			return err
		}
	}
	dyv, err := output.Grad()
	if err != nil {
		return fmt.Errorf("%v: output gradient: %w", op, err)
	}
	dy, err := dense(op, "output gradient", dyv)
	if err != nil {
		return err
	}
	dx, dw, err := op.g.backward(vals[0], vals[1], dy, true)
	if err != nil {
		return err
	}
	for i, d := range []*tensor.Dense{dx, dw} {
		gv, err := in[i].Grad()
		if err != nil {
			return fmt.Errorf("%v: gradient of %s: %w", op, in[i].Name(), err)
		}
		gd, err := dense(op, "gradient of "+in[i].Name(), gv)
		if err != nil {
			return err
		}
		if _, err := gd.Add(d, tensor.UseUnsafe()); err != nil {
			return fmt.Errorf("%v: adding into the gradient of %s: %w", op, in[i].Name(), err)
		}
	}
	return nil
}

// gradOp is the gradient of a convOp wrt its input (wrt 0) or weight (wrt 1), from
// (x, w, dy). It is not differentiable itself (no second derivatives).
type gradOp struct {
	g   geometry
	wrt int
}

func (op gradOp) Arity() int { return 3 }

func (op gradOp) Type() hm.Type {
	t := G.TensorType{Dims: 4, Of: hm.TypeVariable('a')}
	return hm.NewFnType(t, t, t, t)
}

func (op gradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	if len(in) != 3 {
		return nil, fmt.Errorf("%v: want 3 input shapes (x, w, dy), got %d", op, len(in))
	}
	s := make([]tensor.Shape, 3)
	for i := range in {
		var err error
		if s[i], err = shapeOf(op, in[i]); err != nil {
			return nil, err
		}
	}
	ys, err := op.g.outShape(s[0], s[1])
	if err != nil {
		return nil, err
	}
	if !ys.Eq(s[2]) {
		return nil, fmt.Errorf("%v: output gradient has shape %v, want %v", op, s[2], ys)
	}
	return s[op.wrt].Clone(), nil
}

func (op gradOp) Do(in ...G.Value) (G.Value, error) {
	if len(in) != 3 {
		return nil, fmt.Errorf("%v: want 3 inputs (x, w, dy), got %d", op, len(in))
	}
	d := make([]*tensor.Dense, 3)
	for i, what := range []string{"input", "weight", "output gradient"} {
		var err error
		if d[i], err = dense(op, what, in[i]); err != nil {
			return nil, err
		}
	}
	dx, dw, err := op.g.backward(d[0], d[1], d[2], op.wrt == 0)
	if err != nil {
		return nil, err
	}
	if op.wrt == 0 {
		return dx, nil
	}
	return dw, nil
}

func (op gradOp) ReturnsPtr() bool      { return false }
func (op gradOp) CallsExtern() bool     { return false }
func (op gradOp) OverwritesInput() int  { return -1 }
func (op gradOp) WriteHash(h hash.Hash) { fmt.Fprint(h, op.String()) }
func (op gradOp) Hashcode() uint32      { return hashOf(op) }
func (op gradOp) String() string {
	return fmt.Sprintf("%sGrad[%s]", op.g, [2]string{"input", "weight"}[op.wrt])
}

// Conv2d is y = conv2d(x, w) as PyTorch's torch.nn.functional.conv2d without bias: x
// (N, C_in, H, W), w (C_out, C_in/groups, kh, kw), NCHW, in float32 or float64. The
// node differentiates symbolically (gorgonia.Grad) and by autodiff (DoDiff).
func Conv2d(x, w *G.Node, opts ConvOptions) (*G.Node, error) {
	return apply(geometry{transposed: false}, x, w, opts)
}

// ConvTranspose2d is the transposed convolution as PyTorch's conv_transpose2d without
// bias: x (N, C_in, H, W), w (C_in, C_out/groups, kh, kw), output
// H_out = (H−1)·stride − 2·pad + dilation·(kh−1) + output_padding + 1.
func ConvTranspose2d(x, w *G.Node, opts ConvOptions) (*G.Node, error) {
	return apply(geometry{transposed: true}, x, w, opts)
}

func apply(g geometry, x, w *G.Node, opts ConvOptions) (*G.Node, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", g.name(), err)
	}
	g.o = o
	if x == nil || w == nil {
		return nil, fmt.Errorf("%s: input and weight nodes must not be nil", g.name())
	}
	if _, err := g.outShape(x.Shape(), w.Shape()); err != nil {
		return nil, err
	}
	if x.Dtype() != w.Dtype() {
		return nil, fmt.Errorf("%s: input is %v and weight %v, want the same dtype", g.name(), x.Dtype(), w.Dtype())
	}
	if dt := x.Dtype(); dt != tensor.Float32 && dt != tensor.Float64 {
		return nil, fmt.Errorf("%s: dtype %v, want float32 or float64", g.name(), dt)
	}
	return G.ApplyOp(convOp{g: g}, x, w)
}
