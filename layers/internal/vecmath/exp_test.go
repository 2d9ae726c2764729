package vecmath

import (
	"math"
	"math/rand/v2"
	"testing"
)

// Exp32 within 2 ulp of the correctly rounded e^x over the whole range, exact at the
// special values.
func TestExp32(t *testing.T) {
	ulp := func(v float32) float64 {
		return float64(math.Nextafter32(v, float32(math.Inf(1))) - v)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 200000 {
		x := float32(rng.Float64()*175 - 87.3)
		if i < 1000 {
			x = float32(rng.NormFloat64())
		}
		want := math.Exp(float64(x))
		got := Exp32(x)
		if want < 1.2e-38 {
			continue // flushed below the smallest normal
		}
		if d := math.Abs(float64(got) - want); d > 2*ulp(float32(want)) {
			t.Fatalf("Exp32(%v) = %v, e^x = %v (%.2f ulp)", x, got, want, d/ulp(float32(want)))
		}
	}
	for _, c := range []struct{ x, want float32 }{
		{0, 1}, {100, float32(math.Inf(1))}, {-100, 0}, {float32(math.Inf(-1)), 0}, {float32(math.Inf(1)), float32(math.Inf(1))},
	} {
		if got := Exp32(c.x); got != c.want {
			t.Errorf("Exp32(%v) = %v, want %v", c.x, got, c.want)
		}
	}
	if v := Exp32(float32(math.NaN())); v == v {
		t.Errorf("Exp32(NaN) = %v", v)
	}
}

// ExpSubAccum's vector path gives Exp32's bits in every lane, and adds each into its
// float64 sum, for lengths around the vector width and values across and beyond the
// range (overflow, underflow, the 2^128 and 2^-127 edges, NaN, infinities).
func TestExpSubAccumMatchesExp32(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	special := []float32{0, 88.7, 88.72, 88.73, -87.33, -87.34, -87.3365, 88.7228, -103, 200,
		float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), 1e-30, -1e-30}
	for _, n := range []int{1, 15, 16, 17, 31, 32, 33, 100, 4096 + 5} {
		x, m := make([]float32, n), make([]float32, n)
		for i := range x {
			x[i] = float32(rng.NormFloat64() * 30)
			m[i] = float32(rng.NormFloat64() * 10)
			if i%7 == 3 {
				x[i], m[i] = special[rng.IntN(len(special))], 0
			}
		}
		dst, se := make([]float32, n), make([]float64, n)
		for i := range se {
			se[i] = float64(i) * 0.25
		}
		ExpSubAccum(dst, x, m, se)
		for i := range x {
			want := Exp32(x[i] - m[i])
			if math.Float32bits(dst[i]) != math.Float32bits(want) && !(want != want && dst[i] != dst[i]) {
				t.Fatalf("n=%d: exp(%v−%v) = %v (%#x), Exp32 gives %v (%#x)", n, x[i], m[i], dst[i], math.Float32bits(dst[i]), want, math.Float32bits(want))
			}
			if s := float64(i)*0.25 + float64(want); se[i] != s && !(s != s && se[i] != se[i]) {
				t.Fatalf("n=%d: sum[%d] = %v, want %v", n, i, se[i], s)
			}
		}
	}
	// Every float32 in a dense sweep of the polynomial's range, through the vectors.
	const n = 1 << 16
	x, m, dst, se := make([]float32, n), make([]float32, n), make([]float32, n), make([]float64, n)
	for i := range x {
		x[i] = -90 + 180*float32(i)/n
	}
	ExpSubAccum(dst, x, m, se)
	for i := range x {
		if want := Exp32(x[i]); math.Float32bits(dst[i]) != math.Float32bits(want) {
			t.Fatalf("exp(%v) = %v, Exp32 gives %v", x[i], dst[i], want)
		}
	}
}

// ReLU and ReLUBackward on vectors give the scalar definitions' bits: Go's max(x, 0)
// (NaN kept, −0 to +0) and dy·[y > 0] (NaN from a non-finite dy at a dead unit), in
// place too.
func TestReLUMatchesScalar(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	special := []float32{0, float32(math.Copysign(0, -1)), inf, -inf, nan, 1e-40, -1e-40}
	for _, n := range []int{1, 15, 16, 17, 33, 1000} {
		x, y, dy := make([]float32, n), make([]float32, n), make([]float32, n)
		for i := range x {
			x[i], y[i], dy[i] = float32(rng.NormFloat64()), float32(rng.NormFloat64()), float32(rng.NormFloat64())
			if i%5 == 1 {
				x[i], y[i], dy[i] = special[rng.IntN(len(special))], special[rng.IntN(len(special))], special[rng.IntN(len(special))]
			}
		}
		got, dx := make([]float32, n), make([]float32, n)
		ReLU(got, x)
		ReLUBackward(dx, y, dy)
		for i := range x {
			if w := max(x[i], 0); math.Float32bits(got[i]) != math.Float32bits(w) {
				t.Fatalf("n=%d: relu(%v) = %v, max gives %v", n, x[i], got[i], w)
			}
			var on float32
			if y[i] > 0 {
				on = 1
			}
			if w := dy[i] * on; math.Float32bits(dx[i]) != math.Float32bits(w) && !(w != w && dx[i] != dx[i]) {
				t.Fatalf("n=%d: relu'(%v)·%v = %v, want %v", n, y[i], dy[i], dx[i], w)
			}
		}
		ReLU(x, x) // in place
		for i := range x {
			if math.Float32bits(x[i]) != math.Float32bits(got[i]) {
				t.Fatalf("n=%d: in place differs at %d", n, i)
			}
		}
	}
}

// AXPY gives, on vector lanes and scalar tails alike, the bits of its definition: the
// product rounded to float32, then added; specials included, lengths around the vector
// width.
func TestAXPYMatchesScalar(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	special := []float32{0, float32(math.Copysign(0, -1)), inf, -inf, nan, 1e-40, 3e38}
	fill := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
			if i%7 == 3 {
				v[i] = special[rng.IntN(len(special))]
			}
		}
		return v
	}
	same := func(got, want float32) bool {
		return math.Float32bits(got) == math.Float32bits(want) || got != got && want != want
	}
	for _, n := range []int{1, 15, 16, 17, 33, 1000} {
		for _, a := range []float32{0.3125, -1.7, 1e-30} {
			x, d := fill(n), fill(n)
			got := append([]float32(nil), d...)
			AXPY(got, x, a)
			for i := range n {
				if want := d[i] + float32(a*x[i]); !same(got[i], want) {
					t.Fatalf("n=%d a=%v: AXPY element %d = %v, want %v", n, a, i, got[i], want)
				}
			}
		}
	}
}

// MaxPool2x2 gives each window the maximum and argmax of their definitions, written
// out here: Go's max, the first input equal to it, or the first NaN.
func TestMaxPool2x2(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	negz := float32(math.Copysign(0, -1))
	special := []float32{0, negz, inf, -inf, nan, 1, 1, -1}
	for _, n := range []int{16, 17, 40, 100} {
		for _, p := range []float64{0, 0.3, 1} {
			r0, r1 := make([]float32, 2*n), make([]float32, 2*n)
			for i := range r0 {
				r0[i], r1[i] = float32(rng.NormFloat64()), float32(rng.NormFloat64())
				if rng.Float64() < p {
					r0[i], r1[i] = special[rng.IntN(len(special))], special[rng.IntN(len(special))]
				}
			}
			y, arg := make([]float32, n), make([]int32, n)
			const at, w = 1000, 300
			done := MaxPool2x2(y, arg, r0, r1, at, w)
			if hasAVX512 && done != n&^15 || !hasAVX512 && done != 0 {
				t.Fatalf("n=%d: pooled %d windows", n, done)
			}
			for o := range done {
				in := [4]float32{r0[2*o], r0[2*o+1], r1[2*o], r1[2*o+1]}
				off := [4]int32{0, 1, w, w + 1}
				m := max(max(in[0], in[1]), max(in[2], in[3]))
				k := -1
				for i, v := range in {
					if k < 0 && (v == m || v != v) {
						k = i
					}
				}
				if math.Float32bits(y[o]) != math.Float32bits(m) && !(m != m && y[o] != y[o]) {
					t.Fatalf("n=%d p=%v: window %d %v: max %v, want %v", n, p, o, in, y[o], m)
				}
				if want := at + 2*int32(o) + off[k]; arg[o] != want {
					t.Fatalf("n=%d p=%v: window %d %v: argmax %d, want %d", n, p, o, in, arg[o], want)
				}
			}
		}
	}
}

// AddBias gives dst + b, and max(dst + b, 0) with Go's max, bit for bit, specials
// included.
func TestAddBiasMatchesScalar(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	special := []float32{0, float32(math.Copysign(0, -1)), inf, -inf, nan, 1e-40, -0.5}
	for _, n := range []int{1, 15, 16, 17, 33, 1000} {
		for _, b := range []float32{0, float32(math.Copysign(0, -1)), 0.5, -0.25} {
			for _, relu := range []bool{false, true} {
				x := make([]float32, n)
				for i := range x {
					x[i] = float32(rng.NormFloat64())
					if i%5 == 2 {
						x[i] = special[rng.IntN(len(special))]
					}
				}
				got := append([]float32(nil), x...)
				AddBias(got, b, relu)
				for i, v := range x {
					want := v + b
					if relu {
						want = max(want, 0)
					}
					if math.Float32bits(got[i]) != math.Float32bits(want) && !(want != want && got[i] != got[i]) {
						t.Fatalf("n=%d b=%v relu=%v: element %d (%v) = %v, want %v", n, b, relu, i, v, got[i], want)
					}
				}
			}
		}
	}
}

// MaskSum masks as ReLUBackward does and sums in the order its comment states, bit for
// bit, with and without the mask.
func TestMaskSumMatchesDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	for _, n := range []int{1, 15, 16, 17, 48, 1000, 1029} {
		for _, masked := range []bool{false, true} {
			d, y := make([]float32, n), make([]float32, n)
			for i := range d {
				d[i], y[i] = float32(rng.NormFloat64())*float32(1+i%7), float32(rng.NormFloat64())
			}
			want := append([]float32(nil), d...)
			if masked {
				ReLUBackward(want, y, want)
			}
			var lane [16]float32
			n16 := n &^ 15
			for i := range n16 {
				lane[i%16] += want[i]
			}
			for w := 8; w >= 1; w /= 2 {
				for l := range w {
					lane[l] += lane[l+w]
				}
			}
			ws := float32(0)
			if n16 > 0 {
				ws = lane[0]
			}
			for i := n16; i < n; i++ {
				ws += want[i]
			}
			var ym []float32
			if masked {
				ym = y
			}
			got := MaskSum(d, ym)
			if math.Float32bits(got) != math.Float32bits(ws) {
				t.Fatalf("n=%d masked=%v: sum %v, want %v", n, masked, got, ws)
			}
			for i := range d {
				if math.Float32bits(d[i]) != math.Float32bits(want[i]) {
					t.Fatalf("n=%d masked=%v: d[%d] = %v, want %v", n, masked, i, d[i], want[i])
				}
			}
		}
	}
}

// MaxInto and MulWhere give their definitions' bits, specials included.
func TestMaxIntoMulWhere(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	negz := float32(math.Copysign(0, -1))
	special := []float32{0, negz, inf, -inf, nan, 1e-40, 2}
	same := func(a, b float32) bool { return math.Float32bits(a) == math.Float32bits(b) || a != a && b != b }
	for _, n := range []int{1, 15, 16, 17, 48, 1000} {
		x, y, d := make([]float32, n), make([]float32, n), make([]float32, n)
		for i := range x {
			x[i], y[i], d[i] = float32(rng.NormFloat64()), float32(rng.NormFloat64()), float32(rng.NormFloat64())
			if i%3 == 1 {
				x[i], y[i], d[i] = special[rng.IntN(len(special))], special[rng.IntN(len(special))], special[rng.IntN(len(special))]
			}
		}
		got := append([]float32(nil), x...)
		MaxInto(got, y)
		for i := range x {
			if w := max(x[i], y[i]); !same(got[i], w) {
				t.Fatalf("n=%d: max(%v, %v) = %v, want %v", n, x[i], y[i], got[i], w)
			}
		}
		for _, acc := range []bool{false, true} {
			got := append([]float32(nil), d...)
			MulWhere(got, x, y, acc)
			for i := range x {
				w := d[i]
				switch {
				case x[i] != 0 && acc:
					w = d[i] + float32(x[i]*y[i])
				case x[i] != 0:
					w = x[i] * y[i]
				case !acc:
					w = 0
				}
				if !same(got[i], w) {
					t.Fatalf("n=%d acc=%v: element %d (a %v, e %v, dst %v) = %v, want %v", n, acc, i, x[i], y[i], d[i], got[i], w)
				}
			}
		}
	}
}

// Interleave2Rows and Deinterleave2Rows move every element to its place (the bias added
// by a scalar add) and undo each other, with strides, widths around the vector width
// (masked tails), nothing written outside the rows.
func TestInterleave2Rows(t *testing.T) {
	rng := rand.New(rand.NewPCG(19, 20))
	for _, n := range []int{1, 16, 17, 31, 32, 40} {
		const rows = 5
		as, bs, ds := n+3, n+7, 2*n+5
		a, b := make([]float32, rows*as), make([]float32, rows*bs)
		for i := range a {
			a[i] = float32(rng.NormFloat64())
		}
		for i := range b {
			b[i] = float32(rng.NormFloat64())
		}
		got, want := make([]float32, rows*ds), make([]float32, rows*ds)
		Interleave2Rows(got, a, b, 0.5, n, rows, ds, as, bs)
		for r := range rows {
			for i := range n {
				want[r*ds+2*i], want[r*ds+2*i+1] = a[r*as+i]+0.5, b[r*bs+i]+0.5
			}
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("n=%d: Interleave2Rows element %d = %v, want %v", n, i, got[i], want[i])
			}
		}
		es, os := n+2, n+9
		ge, go_ := make([]float32, rows*es), make([]float32, rows*os)
		we, wo := make([]float32, rows*es), make([]float32, rows*os)
		Deinterleave2Rows(ge, go_, got, n, rows, es, os, ds)
		for r := range rows {
			for i := range n {
				we[r*es+i], wo[r*os+i] = got[r*ds+2*i], got[r*ds+2*i+1]
			}
		}
		for i := range we {
			if ge[i] != we[i] {
				t.Fatalf("n=%d: Deinterleave2Rows even %d = %v, want %v", n, i, ge[i], we[i])
			}
		}
		for i := range wo {
			if go_[i] != wo[i] {
				t.Fatalf("n=%d: Deinterleave2Rows odd %d = %v, want %v", n, i, go_[i], wo[i])
			}
		}
	}
}

// InterpRows and ScatterRows are init and one AXPY per tap, row by row, bit for bit, widths around the vector width, one- and two-tap rows mixed; tables
// with overlapping or negative rows are refused.
func TestInterpScatterRows(t *testing.T) {
	for _, bad := range [][]int32{{-1, -1}, {0, 3}, {2, 0}, {0, -2}} {
		if _, err := NewRowPairs(bad, []float32{1, 1}, 4); err == nil {
			t.Errorf("row pairs %v over rows of 4 accepted", bad)
		}
	}
	rng := rand.New(rand.NewPCG(23, 24))
	for _, n := range []int{1, 15, 16, 17, 40, 128} {
		const srcRows, rows = 6, 9
		src := make([]float32, srcRows*n)
		for i := range src {
			src[i] = float32(rng.NormFloat64())
		}
		tab, w := make([]int32, 2*rows), make([]float32, 2*rows)
		for r := range rows {
			a := rng.IntN(srcRows - 1)
			tab[2*r], tab[2*r+1] = int32(a*n), int32((a+1)*n)
			if r%3 == 0 {
				tab[2*r+1] = -1
			}
			w[2*r], w[2*r+1] = float32(rng.Float64()), float32(rng.Float64())
		}
		const init = 0.125
		got, want := make([]float32, rows*n), make([]float32, rows*n)
		pairs, err := NewRowPairs(tab, w, n)
		if err != nil {
			t.Fatal(err)
		}
		InterpRows(got, src, &pairs, init)
		for r := range rows {
			row := want[r*n : (r+1)*n]
			for i := range row {
				row[i] = init
			}
			AXPY(row, src[tab[2*r]:][:n], w[2*r])
			if tab[2*r+1] >= 0 {
				AXPY(row, src[tab[2*r+1]:][:n], w[2*r+1])
			}
		}
		for i := range want {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("n=%d: InterpRows element %d = %v, row by row %v", n, i, got[i], want[i])
			}
		}
		// The adjoint: rows of got scattered back into srcRows rows.
		gs, ws := make([]float32, srcRows*n), make([]float32, srcRows*n)
		ScatterRows(gs, got, &pairs)
		for r := range rows {
			s := got[r*n : (r+1)*n]
			AXPY(ws[tab[2*r]:][:n], s, w[2*r])
			if tab[2*r+1] >= 0 {
				AXPY(ws[tab[2*r+1]:][:n], s, w[2*r+1])
			}
		}
		for i := range ws {
			if math.Float32bits(gs[i]) != math.Float32bits(ws[i]) {
				t.Fatalf("n=%d: ScatterRows element %d = %v, row by row %v", n, i, gs[i], ws[i])
			}
		}
	}
}
