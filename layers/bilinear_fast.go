package layers

import (
	"bytes"
	"unsafe"

	"gorgonia.org/tensor"
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
// gradient: the weight is frozen. Planes (image, channel) are independent and run in
// parallel; each is computed the same way whichever goroutine takes it.

// bilinearPath decides when the separable path applies and holds its tables.
type bilinearPath struct {
	possible bool // C_in == C_out: a channel-diagonal weight is possible at all
	ref      []byte
	p32      bilinearPlan[float32]
	p64      bilinearPlan[float64]
}

// setup builds the reference weight and the tap tables for l's shapes and dtype.
func (b *bilinearPath) setup(l *Deconv, dt tensor.Dtype) error {
	ws := l.weight.Value.Shape()
	b.possible = ws[0] == l.sp.out
	if !b.possible {
		return nil
	}
	switch dt {
	case tensor.Float32:
		b.ref = b.p32.setup(l, b.ref)
	case tensor.Float64:
		b.ref = b.p64.setup(l, b.ref)
	}
	return nil
}

// usable reports whether Forward and Backward may take the separable path now: the
// weight is frozen (or fixed, mode "bilinear") and holds FillBilinear's pattern. The
// weight is compared in full on every call, because nothing stops a caller from
// writing into a frozen parameter (a checkpoint restored after Init, a gradient check
// perturbing it); comparing its bytes with the pattern costs about one read of the
// weight, far less than either path. -0 where the pattern has 0 fails the byte
// comparison, and isBilinearDiag then decides by value.
func (b *bilinearPath) usable(l *Deconv) bool {
	if !b.possible || !(l.noParam || l.weight.Frozen()) {
		return false
	}
	raw := l.weight.Value.Raw
	if len(raw) >= len(b.ref) && bytes.Equal(raw[:len(b.ref)], b.ref) {
		return true
	}
	return l.IsFrozenBilinear()
}

// bilinearTaps lists, for each index o of one axis, the terms Σ coef·src[idx] that
// make it: entries [start[o], start[o+1]) of idx and coef.
type bilinearTaps[T Float] struct {
	start []int32
	idx   []int32
	coef  []T
}

// build fills the taps of a 1-D transposed convolution from n inputs to m outputs
// (out = in·s − p + u·d, u < k, kernel f) when fwd, or of its adjoint (for each input,
// the outputs it feeds) when not.
func (t *bilinearTaps[T]) build(f []float64, n, m, s, p, d int, fwd bool) {
	t.start, t.idx, t.coef = t.start[:0], t.idx[:0], t.coef[:0]
	if fwd {
		// Bucket the (input, tap) pairs by the output they land on, in input-then-tap
		// order within each output.
		count := make([]int32, m+1)
		for i := range n {
			for u := range f {
				if o := i*s - p + u*d; o >= 0 && o < m {
					count[o+1]++
				}
			}
		}
		for o := range m {
			count[o+1] += count[o]
		}
		t.start = append(t.start, count...)
		t.idx = append(t.idx, make([]int32, count[m])...)
		t.coef = append(t.coef, make([]T, count[m])...)
		next := count[:m]
		for i := range n {
			for u := range f {
				if o := i*s - p + u*d; o >= 0 && o < m {
					t.idx[next[o]] = int32(i)
					t.coef[next[o]] = T(f[u])
					next[o]++
				}
			}
		}
		return
	}
	for i := range n {
		t.start = append(t.start, int32(len(t.idx)))
		for u := range f {
			if o := i*s - p + u*d; o >= 0 && o < m {
				t.idx = append(t.idx, int32(o))
				t.coef = append(t.coef, T(f[u]))
			}
		}
	}
	t.start = append(t.start, int32(len(t.idx)))
}

// bilinearPlan is the separable path for one dtype.
type bilinearPlan[T Float] struct {
	hin, win, hout, wout int
	rowsF, colsF         bilinearTaps[T] // forward: output row ← input rows; output column ← input columns
	rowsB, colsB         bilinearTaps[T] // adjoint: input row ← output rows; input column ← output columns
	stripes              int             // tasks: fixed, so results never depend on the thread count
	scratch              []T             // stripes × H_in × W_out
	sums                 []T             // per-plane sums of dY, for the bias gradient

	// The call in progress, for do.
	x, y, dy, dx []T
	b            []T
	c, planes    int
	back         bool
}

// setup sizes the plan for l and returns the reference weight's bytes (reusing ref).
func (p *bilinearPlan[T]) setup(l *Deconv, ref []byte) []byte {
	ws := l.weight.Value.Shape()
	cin, coutG, kh, kw := ws[0], ws[1], ws[2], ws[3]
	w := make([]T, ws.TotalSize())
	fillBilinearDiag(w, bilinearKernel2D(kh, kw), cin, coutG, kh*kw)
	var z T
	ref = append(ref[:0], unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(w))), len(w)*int(unsafe.Sizeof(z)))...)

	p.hin, p.win = l.inShape[2], l.inShape[3]
	p.hout, p.wout = l.outShape[2], l.outShape[3]
	sp := &l.sp
	fh, fw := bilinear1D(kh), bilinear1D(kw)
	p.rowsF.build(fh, p.hin, p.hout, sp.s[0], l.pad[0], sp.d[0], true)
	p.colsF.build(fw, p.win, p.wout, sp.s[1], l.pad[1], sp.d[1], true)
	p.rowsB.build(fh, p.hin, p.hout, sp.s[0], l.pad[0], sp.d[0], false)
	p.colsB.build(fw, p.win, p.wout, sp.s[1], l.pad[1], sp.d[1], false)
	p.c = sp.out
	p.planes = l.n * p.c
	p.stripes = min(p.planes, 32)
	if n := p.stripes * p.hin * p.wout; cap(p.scratch) < n {
		p.scratch = make([]T, n)
	}
	if cap(p.sums) < p.planes {
		p.sums = make([]T, p.planes)
	}
	p.scratch, p.sums = p.scratch[:p.stripes*p.hin*p.wout], p.sums[:p.planes]
	return ref
}

// bilinearForward writes y = bilinear upsampling of x (+ bias), plane by plane.
func bilinearForward[T Float](l *Deconv, p *bilinearPlan[T], x, y []T) {
	p.x, p.y, p.back = x, y, false
	p.b = nil
	if l.bias != nil {
		p.b = convData[T](l.bias.Value)
	}
	parRun(p.stripes, p)
	p.x, p.y, p.b = nil, nil, nil
}

// bilinearBackward adds the input gradient (dx may be nil) and, when the bias learns,
// the bias gradient.
func bilinearBackward[T Float](l *Deconv, p *bilinearPlan[T], dy, dx []T) {
	var db []T
	if l.bias != nil && !l.bias.Frozen() {
		db = convData[T](l.bias.Grad)
	}
	if dx == nil && db == nil {
		return
	}
	p.dy, p.dx, p.back = dy, dx, true
	p.b = db
	parRun(p.stripes, p)
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

// do runs stripe i of the planes.
func (p *bilinearPlan[T]) do(i int) {
	t := p.scratch[i*p.hin*p.wout : (i+1)*p.hin*p.wout]
	inSz, outSz := p.hin*p.win, p.hout*p.wout
	for pl := i * p.planes / p.stripes; pl < (i+1)*p.planes/p.stripes; pl++ {
		if p.back {
			dy := p.dy[pl*outSz : (pl+1)*outSz]
			if p.b != nil {
				var s T
				for _, v := range dy {
					s += v
				}
				p.sums[pl] = s
			}
			if p.dx != nil {
				bilinearBackPlane(p, dy, p.dx[pl*inSz:(pl+1)*inSz], t)
			}
			continue
		}
		var b T
		if p.b != nil {
			b = p.b[pl%p.c]
		}
		bilinearFwdPlane(p, p.x[pl*inSz:(pl+1)*inSz], p.y[pl*outSz:(pl+1)*outSz], t, b)
	}
}

// bilinearFwdPlane upsamples one plane: columns into t, then rows into y.
func bilinearFwdPlane[T Float](p *bilinearPlan[T], x, y, t []T, b T) {
	hin, win, wout := p.hin, p.win, p.wout
	cf := &p.colsF
	for i := range hin {
		xr, tr := x[i*win:(i+1)*win], t[i*wout:(i+1)*wout]
		for o := range tr {
			var s T
			for k := cf.start[o]; k < cf.start[o+1]; k++ {
				s += cf.coef[k] * xr[cf.idx[k]]
			}
			tr[o] = s
		}
	}
	rf := &p.rowsF
	for o := range p.hout {
		yr := y[o*wout : (o+1)*wout]
		k0, k1 := rf.start[o], rf.start[o+1]
		switch k1 - k0 {
		case 0:
			for j := range yr {
				yr[j] = b
			}
		case 1:
			c, t0 := rf.coef[k0], t[int(rf.idx[k0])*wout:][:len(yr)]
			for j := range yr {
				yr[j] = b + c*t0[j]
			}
		case 2:
			c0, c1 := rf.coef[k0], rf.coef[k0+1]
			t0 := t[int(rf.idx[k0])*wout:][:len(yr)]
			t1 := t[int(rf.idx[k0+1])*wout:][:len(yr)]
			for j := range yr {
				yr[j] = b + c0*t0[j] + c1*t1[j]
			}
		default:
			for j := range yr {
				yr[j] = b
			}
			for k := k0; k < k1; k++ {
				c, tk := rf.coef[k], t[int(rf.idx[k])*wout:][:len(yr)]
				for j := range yr {
					yr[j] += c * tk[j]
				}
			}
		}
	}
}

// bilinearBackPlane adds the input gradient of one plane: rows of dY into t, then
// columns of t into dx.
func bilinearBackPlane[T Float](p *bilinearPlan[T], dy, dx, t []T) {
	win, wout := p.win, p.wout
	rb := &p.rowsB
	for i := range p.hin {
		tr := t[i*wout : (i+1)*wout]
		k0, k1 := rb.start[i], rb.start[i+1]
		if k0 == k1 {
			clear(tr)
			continue
		}
		c, d0 := rb.coef[k0], dy[int(rb.idx[k0])*wout:][:len(tr)]
		for j := range tr {
			tr[j] = c * d0[j]
		}
		for k := k0 + 1; k < k1; k++ {
			c, dk := rb.coef[k], dy[int(rb.idx[k])*wout:][:len(tr)]
			for j := range tr {
				tr[j] += c * dk[j]
			}
		}
	}
	cb := &p.colsB
	for i := range p.hin {
		tr, dr := t[i*wout:(i+1)*wout], dx[i*win:(i+1)*win]
		for j := range dr {
			var s T
			for k := cb.start[j]; k < cb.start[j+1]; k++ {
				s += cb.coef[k] * tr[cb.idx[k]]
			}
			dr[j] += s
		}
	}
}
