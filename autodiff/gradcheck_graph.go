package autodiff

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"

	"gorgonia.org/tensor"
)

// GraphCheckOptions configures CheckGraph.
type GraphCheckOptions struct {
	// Eps is the central-difference step; 0 means 1e-6.
	Eps float64
	// Seed drives the random inputs, parameters and output projection.
	Seed uint64
	// Output names the node differentiated as L = Σ out·R, R a fixed random tensor.
	// Empty means the graph's loss node, L being its single element.
	Output string
	// Training puts the graph in training mode (dropout active with a fixed seed,
	// batchnorm on batch statistics); otherwise evaluation mode.
	Training bool
	// KeepParams leaves parameter values as they are instead of drawing them from [-1, 1].
	KeepParams bool
	// IncludeFrozen also checks parameters with LRMult 0, which layers may skip.
	IncludeFrozen bool
	// FourPoint uses the fourth-order central difference
	// (−f(x+2h) + 8f(x+h) − 8f(x−h) + f(x−2h)) / 12h instead of (f(x+h) − f(x−h)) / 2h:
	// its truncation error is O(h⁴), so a larger h keeps rounding noise down in deep
	// graphs, at twice the forward passes.
	FourPoint bool
}

// CheckGraph compares a float64 graph's analytic gradients (Backward) with central
// finite differences of the whole forward pass, with respect to every float input and
// every trainable parameter. inputs are positional as declared; nil float inputs are
// drawn from [-1, 1] at the current shapes, int inputs (labels) must be given. Errors
// are measured as CheckLayer does. The graph is left in the mode it was in, its
// parameters as the check drew them.
func CheckGraph(ctx context.Context, g *Graph, inputs []*tensor.Dense, opt GraphCheckOptions) ([]GradResult, error) {
	if g.dt != tensor.Float64 {
		return nil, fmt.Errorf("gradcheck: the graph runs in %v, build it in float64", g.dt)
	}
	if len(inputs) > len(g.specs) {
		return nil, fmt.Errorf("gradcheck: %d inputs given, the graph has %d", len(inputs), len(g.specs))
	}
	eps := opt.Eps
	if eps == 0 {
		eps = 1e-6
	}
	rng := rand.New(rand.NewPCG(opt.Seed, 0x9e3779b97f4a7c15))
	xs := make([]*tensor.Dense, len(g.specs))
	for i, s := range g.specs {
		if i < len(inputs) && inputs[i] != nil {
			xs[i] = inputs[i]
			continue
		}
		if s.Dtype != tensor.Float64 {
			return nil, fmt.Errorf("gradcheck: input %q (%v) must be given", s.Name, s.Dtype)
		}
		xs[i] = randomDense(rng, s.Shape)
	}
	defer g.SetTraining(g.training)
	defer g.SetInputGrad(g.inputGrad)
	g.SetTraining(opt.Training)
	g.SetInputGrad(true)
	if !opt.KeepParams {
		for _, p := range g.Params() {
			fillUniform(rng, p.Value.Float64s())
		}
	}

	var out *tensor.Dense
	var proj []float64
	if opt.Output != "" {
		n := g.node(opt.Output)
		if n == nil {
			return nil, fmt.Errorf("gradcheck: output %q: not a node%s", opt.Output, g.suggest(opt.Output))
		}
		proj = make([]float64, n.outShape.TotalSize())
		fillUniform(rng, proj)
	} else if g.loss < 0 {
		return nil, errors.New("gradcheck: the graph has no loss node; name an Output")
	}
	// The same seed before every forward: dropout draws the same mask each time.
	const seed = 12345
	loss := func() (float64, error) {
		g.SetSeed(seed, 0)
		g.ParamsChanged() // the differences write parameters between forwards
		if err := g.Forward(ctx, xs...); err != nil {
			return 0, err
		}
		if opt.Output == "" {
			return g.Loss(), nil
		}
		out = g.Value(opt.Output)
		var s float64
		for i, v := range out.Float64s() {
			s += v * proj[i]
		}
		return s, nil
	}

	// Analytic gradients.
	if _, err := loss(); err != nil {
		return nil, fmt.Errorf("gradcheck: %w", err)
	}
	g.ZeroGrad()
	var err error
	if opt.Output == "" {
		err = g.Backward(ctx)
	} else {
		r := tensor.New(tensor.WithShape(out.Shape().Clone()...), tensor.WithBacking(proj))
		err = g.BackwardFrom(ctx, opt.Output, r)
	}
	if err != nil {
		return nil, fmt.Errorf("gradcheck: %w", err)
	}
	type target struct {
		name     string
		vals     []float64
		analytic []float64
	}
	var targets []target
	for i, s := range g.specs {
		if s.Dtype != tensor.Float64 {
			continue
		}
		var a []float64
		if gr := g.Grad(s.Name); gr != nil {
			a = append(a, gr.Float64s()...)
		} else {
			a = make([]float64, s.Shape.TotalSize()) // nothing reads it: zero gradient
		}
		targets = append(targets, target{s.Name, xs[i].Float64s(), a})
	}
	for _, p := range g.Params() {
		if p.Frozen() && !opt.IncludeFrozen {
			continue
		}
		targets = append(targets, target{p.Name, p.Value.Float64s(), append([]float64(nil), p.Grad.Float64s()...)})
	}

	results := make([]GradResult, 0, len(targets))
	for _, t := range targets {
		numeric := make([]float64, len(t.vals))
		for i := range t.vals {
			orig := t.vals[i]
			at := func(h float64) float64 {
				t.vals[i] = orig + h
				l, e := loss()
				if e != nil && err == nil {
					err = e
				}
				return l
			}
			if opt.FourPoint {
				numeric[i] = (8*(at(eps)-at(-eps)) - (at(2*eps) - at(-2*eps))) / (12 * eps)
			} else {
				numeric[i] = (at(eps) - at(-eps)) / (2 * eps)
			}
			t.vals[i] = orig
			if err != nil {
				return nil, fmt.Errorf("gradcheck: %w", err)
			}
		}
		results = append(results, compareGrads(t.name, t.analytic, numeric))
	}
	return results, nil
}
