package gorgoniaop

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/fcn-dev/fcn/layers"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

func randSlice(rng *rand.Rand, n int) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = rng.Float64()*2 - 1
	}
	return s
}

func relErr(a, b float64) float64 {
	return math.Abs(a-b) / math.Max(1, math.Max(math.Abs(a), math.Abs(b)))
}

func compare(t *testing.T, what string, got, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	worst := 0.0
	for i := range got {
		worst = math.Max(worst, relErr(got[i], want[i]))
	}
	if !(worst < 1e-6) {
		t.Errorf("%s: max rel err %.3g", what, worst)
	}
}

// chain is the test's conv → transposed conv → L = Σ y·T, with every option in use.
type chain struct {
	xs, w1s, w2s   tensor.Shape
	c1, c2         ConvOptions
	x, w1, w2, tgt []float64
	ys             tensor.Shape
}

func newChain() chain {
	c := chain{
		xs:  tensor.Shape{2, 4, 7, 6},
		w1s: tensor.Shape{6, 2, 3, 2}, // groups 2: 4 in → 6 out
		w2s: tensor.Shape{6, 2, 3, 3}, // groups 3: 6 in → 6 out
		c1:  ConvOptions{Stride: [2]int{2, 1}, Pad: [2]int{1, 1}, Dilation: [2]int{1, 2}, Groups: 2},
		c2:  ConvOptions{Stride: [2]int{2, 2}, Pad: [2]int{1, 0}, Dilation: [2]int{2, 1}, Groups: 3, OutputPadding: [2]int{1, 1}},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	c.x = randSlice(rng, c.xs.TotalSize())
	c.w1 = randSlice(rng, c.w1s.TotalSize())
	c.w2 = randSlice(rng, c.w2s.TotalSize())
	// conv: H (7+2−3)/2+1 = 4, W (6+2−3)/1+1 = 6; deconv: H 3·2−2+5+1 = 10, W 5·2−0+3+1 = 14.
	c.ys = tensor.Shape{2, 6, 10, 14}
	c.tgt = randSlice(rng, c.ys.TotalSize())
	return c
}

// reference is the chain's loss and gradients from fcn's plain-loop reference
// convolutions (layers.ReferenceConv / ReferenceDeconv), by the chain rule by hand.
func (c chain) reference() (loss float64, dx, dw1, dw2 []float64) {
	g1 := layers.ConvGeometry{N: 2, InC: 4, InH: 7, InW: 6, OutC: 6, OutH: 4, OutW: 6,
		Kernel: [2]int{3, 2}, Stride: c.c1.Stride, Pad: c.c1.Pad, Dilation: c.c1.Dilation, Groups: 2}
	g2 := layers.ConvGeometry{N: 2, InC: 6, InH: 4, InW: 6, OutC: 6, OutH: 10, OutW: 14,
		Kernel: [2]int{3, 3}, Stride: c.c2.Stride, Pad: c.c2.Pad, Dilation: c.c2.Dilation, Groups: 3}
	y1, _, _, _ := layers.ReferenceConv(g1, c.x, c.w1, nil, make([]float64, 2*6*4*6))
	y2, dy1, dw2, _ := layers.ReferenceDeconv(g2, y1, c.w2, nil, c.tgt)
	_, dx, dw1, _ = layers.ReferenceConv(g1, c.x, c.w1, nil, dy1)
	for i := range y2 {
		loss += y2[i] * c.tgt[i]
	}
	return loss, dx, dw1, dw2
}

// build makes the gorgonia graph of the chain.
func (c chain) build(t *testing.T) (g *G.ExprGraph, x, w1, w2, loss *G.Node) {
	t.Helper()
	g = G.NewGraph()
	mk := func(name string, s tensor.Shape, v []float64) *G.Node {
		return G.NewTensor(g, tensor.Float64, 4, G.WithName(name), G.WithShape(s...),
			G.WithValue(tensor.New(tensor.WithShape(s...), tensor.WithBacking(append([]float64(nil), v...)))))
	}
	x, w1, w2 = mk("x", c.xs, c.x), mk("w1", c.w1s, c.w1), mk("w2", c.w2s, c.w2)
	tg := mk("target", c.ys, c.tgt)
	y1, err := Conv2d(x, w1, c.c1)
	if err != nil {
		t.Fatal(err)
	}
	y2, err := ConvTranspose2d(y1, w2, c.c2)
	if err != nil {
		t.Fatal(err)
	}
	if !y2.Shape().Eq(c.ys) {
		t.Fatalf("output shape %v, want %v", y2.Shape(), c.ys)
	}
	prod, err := G.HadamardProd(y2, tg)
	if err != nil {
		t.Fatal(err)
	}
	if loss, err = G.Sum(prod); err != nil {
		t.Fatal(err)
	}
	return g, x, w1, w2, loss
}

func values(t *testing.T, v G.Value) []float64 {
	t.Helper()
	d, ok := v.(*tensor.Dense)
	if !ok {
		t.Fatalf("value is %T", v)
	}
	return d.Data().([]float64)
}

func TestGradientsSymbolic(t *testing.T) {
	c := newChain()
	wantLoss, wdx, wdw1, wdw2 := c.reference()
	g, x, w1, w2, loss := c.build(t)
	grads, err := G.Grad(loss, x, w1, w2)
	if err != nil {
		t.Fatal(err)
	}
	m := G.NewTapeMachine(g)
	defer m.Close()
	if err := m.RunAll(); err != nil {
		t.Fatal(err)
	}
	if l := loss.Value().Data().(float64); relErr(l, wantLoss) > 1e-9 {
		t.Errorf("loss %v, want %v", l, wantLoss)
	}
	compare(t, "dx", values(t, grads[0].Value()), wdx)
	compare(t, "dw1", values(t, grads[1].Value()), wdw1)
	compare(t, "dw2", values(t, grads[2].Value()), wdw2)
}

func TestGradientsAutodiff(t *testing.T) {
	c := newChain()
	_, wdx, wdw1, wdw2 := c.reference()
	g, x, w1, w2, _ := c.build(t)
	// gorgonia runs ADOp.DoDiff in its LispMachine, forward then backward from the cost.
	m := G.NewLispMachine(g)
	defer m.Close()
	if err := m.RunAll(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		n    *G.Node
		want []float64
	}{{x, wdx}, {w1, wdw1}, {w2, wdw2}} {
		gv, err := tc.n.Grad()
		if err != nil {
			t.Fatal(err)
		}
		compare(t, "autodiff d"+tc.n.Name(), values(t, gv), tc.want)
	}
}

// TestFiniteDifferences checks a few gradient elements of the gorgonia graph against
// central differences of its own forward pass, independent of any backward code.
func TestFiniteDifferences(t *testing.T) {
	c := newChain()
	g, x, w1, w2, loss := c.build(t)
	grads, err := G.Grad(loss, x, w1, w2)
	if err != nil {
		t.Fatal(err)
	}
	m := G.NewTapeMachine(g)
	defer m.Close()
	run := func() float64 {
		m.Reset()
		if err := m.RunAll(); err != nil {
			t.Fatal(err)
		}
		return loss.Value().Data().(float64)
	}
	run()
	analytic := make([][]float64, 3)
	for i := range grads {
		analytic[i] = append([]float64(nil), values(t, grads[i].Value())...)
	}
	const eps = 1e-3 // the loss is linear in each single element: no truncation error
	for i, n := range []*G.Node{x, w1, w2} {
		data := values(t, n.Value())
		for _, k := range []int{0, len(data) / 3, len(data) - 1} {
			orig := data[k]
			data[k] = orig + eps
			lp := run()
			data[k] = orig - eps
			lm := run()
			data[k] = orig
			if fd := (lp - lm) / (2 * eps); relErr(fd, analytic[i][k]) > 1e-6 {
				t.Errorf("d%s[%d]: analytic %v, finite differences %v", n.Name(), k, analytic[i][k], fd)
			}
		}
	}
}

// TestTrainUpsample: gorgonia's VanillaSolver and AdamSolver train a stride-2 transposed convolution
// from zero to upsample a fixed 3×3 pattern onto a 6×6 target made by a known kernel.
func TestTrainUpsample(t *testing.T) {
	type solverCase struct {
		name  string
		make  func() G.Solver
		steps int
		// monotone: plain gradient descent at this rate never raises this convex loss;
		// Adam's momentum may overshoot on the way.
		monotone bool
	}
	solvers := []solverCase{
		{"vanilla", func() G.Solver { return G.NewVanillaSolver(G.WithLearnRate(0.02)) }, 30, true},
		{"adam", func() G.Solver { return G.NewAdamSolver(G.WithLearnRate(0.1)) }, 300, false},
	}
	for _, sc := range solvers {
		for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
			t.Run(sc.name+"/"+dt.String(), func(t *testing.T) {
				g := G.NewGraph()
				xs := []float64{1, 0, 2, 0, 3, 0, 1, 1, 0}
				// Target: the same 2×2 nearest-neighbour upsampling (kernel 2, stride 2) of x.
				ts := make([]float64, 36)
				for i := range 6 {
					for j := range 6 {
						ts[i*6+j] = xs[(i/2)*3+j/2]
					}
				}
				conv := func(s []float64) any {
					if dt == tensor.Float32 {
						f := make([]float32, len(s))
						for i, v := range s {
							f[i] = float32(v)
						}
						return f
					}
					return s
				}
				x := G.NewTensor(g, dt, 4, G.WithName("x"), G.WithShape(1, 1, 3, 3),
					G.WithValue(tensor.New(tensor.WithShape(1, 1, 3, 3), tensor.WithBacking(conv(xs)))))
				tg := G.NewTensor(g, dt, 4, G.WithName("t"), G.WithShape(1, 1, 6, 6),
					G.WithValue(tensor.New(tensor.WithShape(1, 1, 6, 6), tensor.WithBacking(conv(ts)))))
				w := G.NewTensor(g, dt, 4, G.WithName("w"), G.WithShape(1, 1, 2, 2), G.WithInit(G.Zeroes()))
				y := G.Must(ConvTranspose2d(x, w, ConvOptions{Stride: [2]int{2, 2}}))
				loss := G.Must(G.Sum(G.Must(G.Square(G.Must(G.Sub(y, tg))))))
				if _, err := G.Grad(loss, w); err != nil {
					t.Fatal(err)
				}
				m := G.NewTapeMachine(g, G.BindDualValues(w))
				defer m.Close()
				solver := sc.make()
				var losses []float64
				for range sc.steps {
					m.Reset()
					if err := m.RunAll(); err != nil {
						t.Fatal(err)
					}
					var l float64
					switch v := loss.Value().Data().(type) {
					case float64:
						l = v
					case float32:
						l = float64(v)
					}
					losses = append(losses, l)
					if err := solver.Step(G.NodesToValueGrads(G.Nodes{w})); err != nil {
						t.Fatal(err)
					}
				}
				for i := 1; i < len(losses) && sc.monotone; i++ {
					if losses[i] > losses[i-1] {
						t.Fatalf("loss rose at step %d: %v", i, losses)
					}
				}
				if losses[0] != 64 { // Σ t² = 4·(1+4+9+1+1) with w = 0
					t.Errorf("initial loss %v, want 64", losses[0])
				}
				if last := losses[len(losses)-1]; !(last < 1e-3*losses[0]) {
					t.Errorf("loss %v → %v: not learnt", losses[0], last)
				}
			})
		}
	}
}

func TestErrors(t *testing.T) {
	g := G.NewGraph()
	n := func(s ...int) *G.Node { return G.NewTensor(g, tensor.Float64, len(s), G.WithShape(s...)) }
	n32 := G.NewTensor(g, tensor.Float32, 4, G.WithShape(6, 2, 3, 3))
	x := n(1, 4, 5, 5)
	for _, tc := range []struct {
		name       string
		transposed bool
		w          *G.Node
		o          ConvOptions
		want       string
	}{
		{"3-D weight", false, n(4, 4, 3), ConvOptions{}, "want 4-D"},
		{"in/groups", false, n(6, 3, 3, 3), ConvOptions{Groups: 2}, "in/groups"},
		{"groups vs out", false, n(5, 2, 3, 3), ConvOptions{Groups: 2}, "does not divide the 5 output"},
		{"groups vs in", false, n(6, 1, 3, 3), ConvOptions{Groups: 3}, "does not divide the 4 input"},
		{"too small", false, n(2, 4, 7, 7), ConvOptions{}, "gives no output"},
		{"negative", false, n(2, 4, 3, 3), ConvOptions{Pad: [2]int{-1, 0}}, "negative"},
		{"output_padding on conv", false, n(2, 4, 3, 3), ConvOptions{OutputPadding: [2]int{1, 0}}, "ConvTranspose2d only"},
		{"dtype", false, n32, ConvOptions{Groups: 2}, "same dtype"},
		{"transposed in", true, n(3, 2, 3, 3), ConvOptions{}, "in = the input's 4"},
		{"output_padding", true, n(4, 2, 3, 3), ConvOptions{Stride: [2]int{2, 2}, OutputPadding: [2]int{2, 0}}, "must be smaller"},
		{"transposed crop", true, n(4, 2, 1, 1), ConvOptions{Pad: [2]int{3, 3}}, "gives no output"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := Conv2d
			if tc.transposed {
				f = ConvTranspose2d
			}
			_, err := f(x, tc.w, tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	if _, err := Conv2d(n(4, 5, 5), n(2, 4, 3, 3), ConvOptions{}); err == nil || !strings.Contains(err.Error(), "(N, C, H, W)") {
		t.Errorf("3-D input: error %v", err)
	}
}

// TestConcurrentDo: the op holds no state, so one op value computes the same results
// from several goroutines at once (go test -race checks the rest).
func TestConcurrentDo(t *testing.T) {
	c := newChain()
	o, err := c.c1.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	op := convOp{g: geometry{o: o}}
	x := tensor.New(tensor.WithShape(c.xs...), tensor.WithBacking(c.x))
	w := tensor.New(tensor.WithShape(c.w1s...), tensor.WithBacking(c.w1))
	want, err := op.Do(x, w)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			got, err := op.Do(x, w)
			if err == nil && !slices.Equal(got.Data().([]float64), want.Data().([]float64)) {
				err = errors.New("concurrent Do differs")
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// TestInputGradientOps: the input gradient is the adjoint (transposed) convolution as a
// node where options for it exist, and gradOp where they do not (a transposed conv
// with output_padding ≥ stride); both match fcn's reference.
func TestInputGradientOps(t *testing.T) {
	for _, tc := range []struct {
		name       string
		transposed bool
		xs, ws     tensor.Shape
		o          ConvOptions
		wantOp     string
	}{
		{"conv → transposed", false, tensor.Shape{2, 4, 7, 8}, tensor.Shape{6, 2, 3, 3},
			ConvOptions{Stride: [2]int{3, 2}, Pad: [2]int{1, 2}, Dilation: [2]int{1, 2}, Groups: 2}, "ConvTranspose2d{"},
		{"transposed → conv", true, tensor.Shape{1, 4, 3, 5}, tensor.Shape{4, 3, 3, 2},
			ConvOptions{Stride: [2]int{2, 3}, Pad: [2]int{1, 0}, Groups: 2, OutputPadding: [2]int{1, 2}}, "Conv2d{"},
		{"output_padding ≥ stride → gradOp", true, tensor.Shape{1, 2, 4, 4}, tensor.Shape{2, 1, 2, 2},
			ConvOptions{Dilation: [2]int{3, 3}, Groups: 2, OutputPadding: [2]int{2, 1}}, "Grad[input]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(3, 4))
			xv, wv := randSlice(rng, tc.xs.TotalSize()), randSlice(rng, tc.ws.TotalSize())
			g := G.NewGraph()
			x := G.NewTensor(g, tensor.Float64, 4, G.WithName("x"), G.WithShape(tc.xs...),
				G.WithValue(tensor.New(tensor.WithShape(tc.xs...), tensor.WithBacking(xv))))
			w := G.NewTensor(g, tensor.Float64, 4, G.WithName("w"), G.WithShape(tc.ws...),
				G.WithValue(tensor.New(tensor.WithShape(tc.ws...), tensor.WithBacking(wv))))
			f, ref := Conv2d, layers.ReferenceConv
			if tc.transposed {
				f, ref = ConvTranspose2d, layers.ReferenceDeconv
			}
			y, err := f(x, w, tc.o)
			if err != nil {
				t.Fatal(err)
			}
			ys := y.Shape()
			dyv := randSlice(rng, ys.TotalSize())
			dy := G.NewTensor(g, tensor.Float64, 4, G.WithName("dy"), G.WithShape(ys...),
				G.WithValue(tensor.New(tensor.WithShape(ys...), tensor.WithBacking(dyv))))
			loss := G.Must(G.Sum(G.Must(G.HadamardProd(y, dy))))
			grads, err := G.Grad(loss, x, w)
			if err != nil {
				t.Fatal(err)
			}
			if s := grads[0].Op().String(); !strings.Contains(s, tc.wantOp) {
				t.Errorf("input gradient op %s, want %s", s, tc.wantOp)
			}
			m := G.NewTapeMachine(g)
			defer m.Close()
			if err := m.RunAll(); err != nil {
				t.Fatal(err)
			}
			o, _ := tc.o.withDefaults()
			geo := layers.ConvGeometry{N: tc.xs[0], InC: tc.xs[1], InH: tc.xs[2], InW: tc.xs[3],
				OutC: ys[1], OutH: ys[2], OutW: ys[3], Kernel: [2]int{tc.ws[2], tc.ws[3]},
				Stride: o.Stride, Pad: o.Pad, Dilation: o.Dilation, Groups: o.Groups}
			wy, wdx, wdw, _ := ref(geo, xv, wv, nil, dyv)
			compare(t, "y", values(t, y.Value()), wy)
			compare(t, "dx", values(t, grads[0].Value()), wdx)
			compare(t, "dw", values(t, grads[1].Value()), wdw)
		})
	}
}

// TestAgainstGorgoniaConv2d: with one group, Conv2d and its gradients agree with
// gorgonia's own Conv2d (im2col), an implementation independent of fcn, each in its own
// graph so that no gradient node is shared.
func TestAgainstGorgoniaConv2d(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	xs, ws := tensor.Shape{2, 3, 7, 6}, tensor.Shape{4, 3, 3, 2}
	ys := tensor.Shape{2, 4, 4, 6}
	xv, wv, rv := randSlice(rng, xs.TotalSize()), randSlice(rng, ws.TotalSize()), randSlice(rng, ys.TotalSize())
	o := ConvOptions{Stride: [2]int{2, 1}, Pad: [2]int{1, 1}, Dilation: [2]int{1, 2}}
	run := func(gorgonias bool) (y, dx, dw []float64) {
		g := G.NewGraph()
		mk := func(name string, s tensor.Shape, v []float64) *G.Node {
			return G.NewTensor(g, tensor.Float64, 4, G.WithName(name), G.WithShape(s...),
				G.WithValue(tensor.New(tensor.WithShape(s...), tensor.WithBacking(append([]float64(nil), v...)))))
		}
		x, w, r := mk("x", xs, xv), mk("w", ws, wv), mk("r", ys, rv)
		var out *G.Node
		var err error
		if gorgonias {
			out, err = G.Conv2d(x, w, tensor.Shape{3, 2}, o.Pad[:], o.Stride[:], o.Dilation[:])
		} else {
			out, err = Conv2d(x, w, o)
		}
		if err != nil {
			t.Fatal(err)
		}
		if !out.Shape().Eq(ys) {
			t.Fatalf("shape %v, want %v", out.Shape(), ys)
		}
		grads, err := G.Grad(G.Must(G.Sum(G.Must(G.HadamardProd(out, r)))), x, w)
		if err != nil {
			t.Fatal(err)
		}
		m := G.NewTapeMachine(g)
		defer m.Close()
		if err := m.RunAll(); err != nil {
			t.Fatal(err)
		}
		return values(t, out.Value()), values(t, grads[0].Value()), values(t, grads[1].Value())
	}
	y1, dx1, dw1 := run(false)
	y2, dx2, dw2 := run(true)
	compare(t, "y", y1, y2)
	compare(t, "dx", dx1, dx2)
	compare(t, "dw", dw1, dw2)
}
