package train

import "github.com/fcn-dev/fcn/autodiff"

// passGrads sums a step's iter_size passes' parameter gradients, each pass's computed
// from zero and added in pass order: g = ((g₁ + g₂) + g₃) + …. Layers add their
// gradients into Grad block by block, so letting pass 2 accumulate onto pass 1's would
// round differently from g₁ + g₂ — and data-parallel ranks, whose passes run apart, can
// only form g₁ + g₂. Summing whole passes makes one process with batch 8 × iter_size 2
// and two ranks of batch 8 the same bits; with iter_size 1 nothing changes.
type passGrads struct {
	acc []float32
}

// before readies pass k (0-based) of a step: from the second pass on, the sum so far is
// set aside and the gradients zeroed.
func (p *passGrads) before(g *autodiff.Graph, k int) {
	if k == 0 {
		return
	}
	p.acc = p.acc[:0]
	for _, q := range g.Params() {
		p.acc = append(p.acc, q.Grad.Data().([]float32)[:q.Grad.Shape().TotalSize()]...)
	}
	g.ZeroGrad()
}

// after adds the sum set aside to pass k's gradients: sum + g_k.
func (p *passGrads) after(g *autodiff.Graph, k int) {
	if k == 0 {
		return
	}
	off := 0
	for _, q := range g.Params() {
		d := q.Grad.Data().([]float32)[:q.Grad.Shape().TotalSize()]
		for i := range d {
			d[i] = p.acc[off+i] + d[i]
		}
		off += len(d)
	}
}
