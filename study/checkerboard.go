package study

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/fcn-dev/fcn/autodiff"
	"gonum.org/v1/gonum/dsp/fourier"
	"gorgonia.org/tensor"
)

// Checkerboard scores: how strongly an upsampling layer stamps a pattern of its stride on
// what it upsamples. Two measures, both 0 for a perfectly smooth upsampling:
//
// Constant response (ConstantResponseScore): an upsampling layer, fed a constant map,
// should give a constant map away from the borders. A transposed convolution with kernel
// k and stride s adds, at output pixel y, the kernel taps i ≡ y (mod s); when those
// per-phase sums differ (the uneven overlap of Distill's "Deconvolution and Checkerboard
// Artifacts"), a constant input comes out as a pattern of period s. The score is the
// spread of the response over the interior relative to its level.
//
// Spectral share (Spectrum): a checkerboard of period s in an output map puts energy at
// the frequencies that are multiples of 1/s; the score is the share of a map's spectral
// energy (DC excluded) that lies on that lattice.

// ConstantResponseScore measures how far g's response to a constant input is from uniform.
// g has a single float input of shape (1, C, h, w) and is linear or affine from it to the
// node out (a deconv, or a resize followed by a conv). The response R = g(1) − g(0) —
// the difference removes any bias, which shifts the level but makes no pattern — is read
// over the interior of each output channel: starting border[a] pixels in from the
// top/left edge, and as many whole periods (period[a] pixels, the upsampling stride) as
// fit before border[a] pixels from the bottom/right edge, so that every phase of a
// stride-periodic pattern counts equally. The score is
//
//	sqrt(Σ_c var_c) / sqrt(Σ_c mean_c²)
//
// with mean_c and var_c (population variance) over channel c's interior: std/mean for a
// single channel, the ratio of the channels' RMS spread to their RMS level for several.
// It is 0 exactly when every channel's interior response is flat. A response with zero
// level everywhere (Σ mean_c² = 0) has no defined score and gives an error.
func ConstantResponseScore(ctx context.Context, g *autodiff.Graph, out string, period, border [2]int) (float64, error) {
	ins := g.Inputs()
	if len(ins) != 1 {
		return 0, fmt.Errorf("constant response: the graph needs exactly one input, has %d", len(ins))
	}
	shape := ins[0].Shape
	if len(shape) != 4 || shape[0] != 1 {
		return 0, fmt.Errorf("constant response: input %q must be (1, C, H, W), got %v", ins[0].Name, shape)
	}
	if g.Layer(out) == nil {
		return 0, fmt.Errorf("constant response: no node %q", out)
	}
	if period[0] < 1 || period[1] < 1 || border[0] < 0 || border[1] < 0 {
		return 0, fmt.Errorf("constant response: period %v must be ≥ 1 and border %v ≥ 0", period, border)
	}
	resp := make([][]float64, 2)
	for i, v := range []float64{0, 1} {
		x := cbConstDense(ins[0].Dtype, shape, v)
		if x == nil {
			return 0, fmt.Errorf("constant response: input dtype %v is not float32 or float64", ins[0].Dtype)
		}
		if err := g.Forward(ctx, x); err != nil {
			return 0, fmt.Errorf("constant response: %w", err)
		}
		resp[i] = cbFloat64s(g.Value(out))
	}
	os := g.Shape(out)
	if len(os) != 4 {
		return 0, fmt.Errorf("constant response: output %q must be NCHW, got %v", out, os)
	}
	c, h, w := os[1], os[2], os[3]
	ny := (h - 2*border[0]) / period[0] * period[0]
	nx := (w - 2*border[1]) / period[1] * period[1]
	if ny <= 0 || nx <= 0 {
		return 0, fmt.Errorf("constant response: output %d×%d has no whole period %v inside a border of %v", h, w, period, border)
	}
	y0, x0 := border[0], border[1]
	n := float64(ny * nx)
	r := make([]float64, 0, ny*nx)
	var sumVar, sumMean2 float64
	for ch := range c {
		r = r[:0]
		var sum float64
		for y := y0; y < y0+ny; y++ {
			for x := x0; x < x0+nx; x++ {
				i := (ch*h+y)*w + x
				r = append(r, resp[1][i]-resp[0][i])
				sum += r[len(r)-1]
			}
		}
		// Two passes: Σr²/n − mean² would cancel to rounding noise for a flat response.
		mean := sum / n
		var ss float64
		for _, v := range r {
			ss += (v - mean) * (v - mean)
		}
		sumMean2 += mean * mean
		sumVar += ss / n
	}
	if sumMean2 == 0 {
		return 0, errors.New("constant response: the response is zero everywhere (no level to compare the spread with)")
	}
	return math.Sqrt(sumVar) / math.Sqrt(sumMean2), nil
}

func cbConstDense(dt tensor.Dtype, s tensor.Shape, v float64) *tensor.Dense {
	n := s.TotalSize()
	switch dt {
	case tensor.Float32:
		b := make([]float32, n)
		for i := range b {
			b[i] = float32(v)
		}
		return tensor.New(tensor.WithShape(s...), tensor.WithBacking(b))
	case tensor.Float64:
		b := make([]float64, n)
		for i := range b {
			b[i] = v
		}
		return tensor.New(tensor.WithShape(s...), tensor.WithBacking(b))
	}
	return nil
}

// cbFloat64s copies a float tensor's values as float64.
func cbFloat64s(d *tensor.Dense) []float64 {
	switch v := d.Data().(type) {
	case []float64:
		return append([]float64(nil), v...)
	case []float32:
		out := make([]float64, len(v))
		for i, x := range v {
			out[i] = float64(x)
		}
		return out
	}
	return nil
}

// Spectrum accumulates the spectral energy of maps and the part of it on the lattice of
// frequencies that are multiples of 1/Stride (cycles per pixel) on both axes.
//
// For a map of h×w, the 2-D DFT coefficient F(u, v) (u in [0, h), v in [0, w)) is at
// frequency (u/h, v/w). The lattice is the set of (u, v) with u = round(m·h/Stride) mod h
// and v = round(n·w/Stride) mod w for integers m, n, (0, 0) excluded — exact bins when
// Stride divides h and w. Energy is |F(u, v)|², summed over every (u, v) ≠ (0, 0) for the
// total. A pattern of period Stride (a checkerboard) has all its non-DC energy on the
// lattice; a map without such a pattern has a share near the lattice's share of the bins,
// (Stride² − 1)/(h·w − 1) when Stride divides both sides.
type Spectrum struct {
	Stride  int
	OnGrid  float64 // Σ |F|² on the lattice
	Total   float64 // Σ |F|² off DC
	Bins    int     // lattice bins counted, summed over maps
	AllBins int     // non-DC bins, summed over maps

	rowFFT, colFFT *fourier.CmplxFFT
}

// Add adds one h×w map, row-major.
func (s *Spectrum) Add(m []float64, h, w int) error {
	if s.Stride < 1 {
		return fmt.Errorf("spectrum: stride must be ≥ 1, got %d", s.Stride)
	}
	if h < 1 || w < 1 || len(m) != h*w {
		return fmt.Errorf("spectrum: map of %d values is not %d×%d", len(m), h, w)
	}
	if s.rowFFT == nil || s.rowFFT.Len() != w {
		s.rowFFT = fourier.NewCmplxFFT(w)
	}
	if s.colFFT == nil || s.colFFT.Len() != h {
		s.colFFT = fourier.NewCmplxFFT(h)
	}
	// Rows, then columns: the separable 2-D DFT.
	f := make([]complex128, h*w)
	row := make([]complex128, w)
	for y := range h {
		for x := range w {
			row[x] = complex(m[y*w+x], 0)
		}
		s.rowFFT.Coefficients(f[y*w:(y+1)*w], row)
	}
	col, colOut := make([]complex128, h), make([]complex128, h)
	for x := range w {
		for y := range h {
			col[y] = f[y*w+x]
		}
		s.colFFT.Coefficients(colOut, col)
		for y := range h {
			f[y*w+x] = colOut[y]
		}
	}
	onU, onV := cbLatticeBins(h, s.Stride), cbLatticeBins(w, s.Stride)
	for u := range h {
		for v := range w {
			if u == 0 && v == 0 {
				continue
			}
			c := f[u*w+v]
			e := real(c)*real(c) + imag(c)*imag(c)
			s.Total += e
			s.AllBins++
			if onU[u] && onV[v] {
				s.OnGrid += e
				s.Bins++
			}
		}
	}
	return nil
}

// cbLatticeBins marks the DFT bins of an axis of n samples at multiples of 1/stride.
func cbLatticeBins(n, stride int) []bool {
	on := make([]bool, n)
	for m := range stride {
		u := int(math.Round(float64(m)*float64(n)/float64(stride))) % n
		on[u] = true
	}
	return on
}

// Share is OnGrid/Total: the share of the non-DC energy on the lattice (NaN if there
// is no energy).
func (s *Spectrum) Share() float64 {
	if s.Total == 0 {
		return math.NaN()
	}
	return s.OnGrid / s.Total
}

// Baseline is the lattice's share of the bins: the share a map with a flat spectrum has.
func (s *Spectrum) Baseline() float64 {
	if s.AllBins == 0 {
		return math.NaN()
	}
	return float64(s.Bins) / float64(s.AllBins)
}
