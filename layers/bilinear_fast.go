package layers

import (
	"math"
	"unsafe"

	"github.com/fcn-dev/fcn/internal/par"
	"github.com/fcn-dev/fcn/layers/internal/gemm"
	"github.com/fcn-dev/fcn/layers/internal/vecmath"
)

// The separable path of a Deconv whose weight is frozen bilinear.
//
// FillBilinear's weight feeds input channel c to output channel c only, through the
// outer product fh⊗fw of two 1-D kernels. The transposed convolution then falls apart
// into one 2-D upsampling per channel, and each into a 1-D transposed convolution along
// the rows followed by one along the columns:
//
//	t[i, ox] = Σ_{j, v: ox = j·s_w − p_w + v·d_w} fw[v]·x[i, j]       (H_in × W_out)
//	y[oy, :] = b + Σ_{i, u: oy = i·s_h − p_h + u·d_h} fh[u]·t[i, :]
//
// at O(C·H·W·k) instead of the general path's O(C²·H·W·k²). The input gradient is the
// adjoint, the same two passes transposed and in reverse order:
//
//	t[i, :]  = Σ_u fh[u]·dY[i·s_h − p_h + u·d_h, :]
//	dX[i, j] += Σ_v fw[v]·t[i, j·s_w − p_w + v·d_w]
//
// Taps that land outside the output are dropped, exactly as in col2im/im2col, so
// padding, output_padding and Same behave as on the general path. There is no weight
// gradient: the weight is frozen.
//
// Each 1-D pass is a product with a small interpolation matrix — Rw (W_in × W_out) along
// the rows, Rh (H_out × H_in) along the columns. The pass along the rows runs on the
// GEMM: t = X·Rw for all planes (image, channel) at once, stacked row on row; the
// matrix is mostly zeros, but the GEMM's FMAs do the extra work far faster than scalar
// Go does the sparse sums, and for large maps the product is cut into bands of
// outputs, each multiplying only the inputs that reach it. The pass along the columns
// works on whole rows, plane by plane, the planes spread over the threads: output row
// oy of Y_p = Rh·t_p is the sum of the few rows of t_p that reach it (⌈k/s⌉ of them),
// each scaled by its weight, and Rhᵀ·dY_p adds each row of dY_p, scaled, into the rows
// of t_p that reach it: vector AXPYs on rows in L1 (vecmath for float32; two taps, the
// usual k = 2s, in one pass), so Y and dY, the large maps, are each streamed once. (As a GEMM, this pass multiplied by every row
// of t_p, zeros included, and packed t_p for each plane: 8× the work for k16 s8.)
// Every plane is computed the same way whichever goroutine takes it, and the GEMM does
// not depend on the thread count, so neither does the result.

// bilinearPlan is the separable path for one dtype.
type bilinearPlan[T Float] struct {
	hin, win, hout, wout int
	planes, c            int
	rh                   []T             // H_out × H_in: output row ← input rows
	rw                   []T             // W_in × W_out: input column → output columns
	rows                 bilinearTaps[T] // per output row, the input rows that reach it
	colsF, colsB         []bilinearBand
	stripes              int // tasks: fixed, so results never depend on the thread count
	t                    []T // planes × H_in × W_out
	sums                 []T // per-plane sums of dY, for the bias gradient

	// The call in progress, for do.
	y, dy, dx, b []T
	back         bool
}

// bilinearBand is a run of outputs [o0, o1) of a 1-D pass and the inputs [i0, i1)
// that reach any of them.
type bilinearBand struct{ o0, o1, i0, i1 int }

// bilinearTaps lists, for each of a pass's outputs o, the inputs that reach it and
// their weights: in[off[o]:off[o+1]] and w[off[o]:off[o+1]], inputs in increasing order.
// Where every output has one or two (k ≤ 2s, FCN's upsamplings), pairs holds them as
// the float32 plane kernels' table (row offsets times the row width, a missing second
// as −1); it has no rows otherwise.
type bilinearTaps[T Float] struct {
	off, in []int32
	w       []T
	pairs   vecmath.RowPairs
}

// set fills the taps of n outputs from weight(o, i) over m inputs, its non-zeros, and
// the pair table for rows of width w.
func (tp *bilinearTaps[T]) set(n, m, w int, weight func(o, i int) T) {
	tp.off, tp.in, tp.w = append(tp.off[:0], 0), tp.in[:0], tp.w[:0]
	for o := range n {
		for i := range m {
			if v := weight(o, i); v != 0 {
				tp.in, tp.w = append(tp.in, int32(i)), append(tp.w, v)
			}
		}
		tp.off = append(tp.off, int32(len(tp.in)))
	}
	tab, pw := tp.pairs.Tab[:0], tp.pairs.W[:0]
	tp.pairs = vecmath.RowPairs{}
	for o := range n {
		k0, k1 := tp.off[o], tp.off[o+1]
		if k1-k0 < 1 || k1-k0 > 2 {
			return // the general loops
		}
		t1, w1 := int32(-1), float32(0)
		if k1-k0 == 2 {
			t1, w1 = tp.in[k0+1]*int32(w), float32(tp.w[k0+1])
		}
		tab, pw = append(tab, tp.in[k0]*int32(w), t1), append(pw, float32(tp.w[k0]), w1)
	}
	if p, err := vecmath.NewRowPairs(tab, pw, w); err == nil {
		tp.pairs = p // set's tables always pass; the general loops otherwise
	}
}

// sumRows sets each row o of dst (one per output, width w) to init plus the weighted
// sum of the rows of src that reach it, in the taps' order.
func (tp *bilinearTaps[T]) sumRows(dst, src []T, w int, init T) {
	for o := range len(tp.off) - 1 {
		row := dst[o*w : (o+1)*w]
		fill(row, init)
		for k := tp.off[o]; k < tp.off[o+1]; k++ {
			axpy(row, src[int(tp.in[k])*w:][:w], tp.w[k])
		}
	}
}

// scatterRows adds to the rows of dst (one per input, width w) each row o of src (one
// per output) times the weight of every input that reaches it: the adjoint of
// sumRows, reading src once. Each row of dst receives its terms in increasing o, as
// sumRows over the transposed taps would add them.
func (tp *bilinearTaps[T]) scatterRows(dst, src []T, w int) {
	for o := range len(tp.off) - 1 {
		row := src[o*w : (o+1)*w]
		for k := tp.off[o]; k < tp.off[o+1]; k++ {
			axpy(dst[int(tp.in[k])*w:][:w], row, tp.w[k])
		}
	}
}

// axpy adds a·src[i] to dst[i], the product rounded before the add. float32 runs on
// AVX-512 vectors (vecmath.AXPY), with the same results.
func axpy[T Float](dst, src []T, a T) {
	if unsafe.Sizeof(a) == 4 {
		vecmath.AXPY(f32(dst), f32(src), float32(a))
		return
	}
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] += T(a * v)
	}
}

// bilinearBands cuts n outputs into runs of about 32 strides (so that each run reads
// about 32 inputs); reach(o) gives the inputs [lo, hi) that reach output o, lo ≥ hi
// for none.
func bilinearBands(n, stride int, reach func(o int) (lo, hi int)) []bilinearBand {
	per := 32 * stride
	var bands []bilinearBand
	for o0 := 0; o0 < n; o0 += per {
		b := bilinearBand{o0: o0, o1: min(o0+per, n), i0: math.MaxInt, i1: math.MinInt}
		for o := b.o0; o < b.o1; o++ {
			if lo, hi := reach(o); lo < hi {
				b.i0, b.i1 = min(b.i0, lo), max(b.i1, hi)
			}
		}
		if b.i0 >= b.i1 {
			b.i0, b.i1 = 0, 0 // no input reaches the band: a product of length 0 clears it
		}
		bands = append(bands, b)
	}
	return bands
}

// setup sizes the plan for l's shapes.
func (p *bilinearPlan[T]) setup(l *Deconv) {
	kh, kw := l.sp.k[0], l.sp.k[1]
	sp := &l.sp
	p.hin, p.win = l.inShape[2], l.inShape[3]
	p.hout, p.wout = l.outShape[2], l.outShape[3]
	p.c = sp.out
	p.planes = l.n * p.c
	p.stripes = min(p.planes, 32)
	// rh[o, i] and rw[i, o] sum the taps u with o = i·s − pad + u·d.
	p.rh = interpMatrix(p.rh, bilinear1D(kh), p.hin, p.hout, sp.s[0], l.pad[0], sp.d[0], true)
	p.rw = interpMatrix(p.rw, bilinear1D(kw), p.win, p.wout, sp.s[1], l.pad[1], sp.d[1], false)
	reach := func(m []T, rows, cols int, byRow bool) func(int) (int, int) {
		// The non-zeros of row (byRow) or column o of the rows × cols matrix m.
		return func(o int) (lo, hi int) {
			lo, hi = math.MaxInt, math.MinInt
			n := cols
			if !byRow {
				n = rows
			}
			for i := range n {
				var v T
				if byRow {
					v = m[o*cols+i]
				} else {
					v = m[i*cols+o]
				}
				if v != 0 {
					lo, hi = min(lo, i), max(hi, i+1)
				}
			}
			return lo, hi
		}
	}
	p.rows.set(p.hout, p.hin, p.wout, func(o, i int) T { return p.rh[o*p.hin+i] })
	p.colsF = bilinearBands(p.wout, sp.s[1], reach(p.rw, p.win, p.wout, false))
	p.colsB = bilinearBands(p.win, 1, reach(p.rw, p.win, p.wout, true))
	if n := p.planes * p.hin * p.wout; cap(p.t) < n {
		p.t = make([]T, n)
	}
	if cap(p.sums) < p.planes {
		p.sums = make([]T, p.planes)
	}
	p.t, p.sums = p.t[:p.planes*p.hin*p.wout], p.sums[:p.planes]
}

// interpMatrix returns the 1-D transposed convolution from n inputs to m outputs with
// kernel f as a dense matrix: m × n (outputs by row) when outRows, else n × m.
func interpMatrix[T Float](buf []T, f []float64, n, m, s, pad, d int, outRows bool) []T {
	if cap(buf) < n*m {
		buf = make([]T, n*m)
	}
	buf = buf[:n*m]
	clear(buf)
	for i := range n {
		for u, v := range f {
			o := i*s - pad + u*d
			if o < 0 || o >= m {
				continue
			}
			if outRows {
				buf[o*n+i] += T(v)
			} else {
				buf[i*m+o] += T(v)
			}
		}
	}
	return buf
}

// bilinearForward writes y = bilinear upsampling of x (+ bias): t = X·Rw for all planes,
// then Y_p = Rh·t_p per plane, in parallel.
func bilinearForward[T Float](l *Deconv, p *bilinearPlan[T], x, y []T) {
	rows := p.planes * p.hin
	for _, b := range p.colsF {
		gemm.Gemm(false, false, rows, b.o1-b.o0, b.i1-b.i0,
			1, x[b.i0:], p.win,
			p.rw[b.i0*p.wout+b.o0:], p.wout,
			0, p.t[b.o0:], p.wout)
	}
	p.y, p.back, p.b = y, false, paramValue[T](l.bias)
	par.Run(p.stripes, p)
	p.y, p.b = nil, nil
}

// bilinearBackward adds the input gradient (dx may be nil) and, when the bias learns,
// the bias gradient: t_p = Rhᵀ·dY_p per plane, in parallel, then dX += t·Rwᵀ.
func bilinearBackward[T Float](l *Deconv, p *bilinearPlan[T], dy, dx []T) {
	db := paramGrad[T](l.bias)
	if dx == nil && db == nil {
		return
	}
	p.dy, p.dx, p.back = dy, dx, true
	p.b = db
	par.Run(p.stripes, p)
	if dx != nil {
		rows := p.planes * p.hin
		for _, b := range p.colsB {
			gemm.Gemm(false, true, rows, b.o1-b.o0, b.i1-b.i0,
				1, p.t[b.i0:], p.wout,
				p.rw[b.o0*p.wout+b.i0:], p.wout,
				1, dx[b.o0:], p.win)
		}
	}
	if db != nil {
		// Plane sums are added image after image, as the general path does.
		for n := range l.n {
			for c := range p.c {
				db[c] += p.sums[n*p.c+c]
			}
		}
	}
	p.dy, p.dx, p.b = nil, nil, nil
}

// do runs the per-plane pass along the columns for stripe i of the planes.
func (p *bilinearPlan[T]) Do(i int) {
	tSz, outSz := p.hin*p.wout, p.hout*p.wout
	for pl := i * p.planes / p.stripes; pl < (i+1)*p.planes/p.stripes; pl++ {
		t := p.t[pl*tSz : (pl+1)*tSz]
		if !p.back {
			var bias T
			if p.b != nil {
				bias = p.b[pl%p.c]
			}
			y := p.y[pl*outSz : (pl+1)*outSz]
			if unsafe.Sizeof(bias) == 4 && p.rows.pairs.Rows() > 0 {
				// The whole plane in one call (AVX-512), sumRows' values.
				vecmath.InterpRows(f32(y), f32(t), &p.rows.pairs, float32(bias))
				continue
			}
			p.rows.sumRows(y, t, p.wout, bias)
			continue
		}
		dy := p.dy[pl*outSz : (pl+1)*outSz]
		if p.b != nil {
			var s T
			if unsafe.Sizeof(s) == 4 {
				s = T(vecmath.MaskSum(f32(dy), nil)) // 16 lane sums on AVX-512
			} else {
				for _, v := range dy {
					s += v
				}
			}
			p.sums[pl] = s
		}
		if p.dx == nil {
			continue
		}
		clear(t)
		if unsafe.Sizeof(t[0]) == 4 && p.rows.pairs.Rows() > 0 {
			vecmath.ScatterRows(f32(t), f32(dy), &p.rows.pairs) // scatterRows' values
			continue
		}
		p.rows.scatterRows(t, dy, p.wout)
	}
}
