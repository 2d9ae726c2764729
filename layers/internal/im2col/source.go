package im2col

import (
	"unsafe"

	"github.com/fcn-dev/fcn/layers/internal/gemm"
	"github.com/fcn-dev/fcn/layers/internal/vecmath"
)

// Source is the column matrix of one image as a gemm.BSource: a convolution's
// product W·im2col(x) packs its B slivers straight from the image, so the column
// matrix is never written out and read back (an im2col-free, "implicit" GEMM). Its
// entries are Im2Col's: row (c, kh, kw), column (oh, ow) is the image at
// (oh·SH − PadT + kh·DH, ow·SW − PadL + kw·DW), or zero outside it.
//
// A 32-column sliver of float32 whose two 16-column halves each lie in one row of
// window positions, at stride 1 along the width, is gathered with AVX-512 where the
// CPU has it (gemm.GatherSliver32): per kernel tap, one masked run of the image row
// for each half, the same offsets for every channel. Other float32 slivers take
// AVX-512 gathers with an index per lane and tap (gemm.GatherSliverIdx32); without
// AVX-512, slivers are packed element by element. The packed values are the same.
type Source[T Float] struct {
	G    Geom
	X    []T  // the image: G.C planes of G.H×G.W, channel 0 first
	Bias []T  // finish the product adding Bias[i] to row i (nil: none)
	ReLU bool // then with max(·, 0), block by block while in cache
}

// Finish implements gemm.BSource: the bias, then max(·, 0) when ReLU is set, on the
// block.
func (s *Source[T]) Finish(c []T, ldc, i0, rows, j0, cols int) {
	if s.Bias == nil && !s.ReLU {
		return
	}
	var zero T
	for i := i0; i < i0+rows; i++ {
		row := c[i*ldc+j0 : i*ldc+j0+cols]
		var b T
		if s.Bias != nil {
			b = s.Bias[i]
		}
		if unsafe.Sizeof(zero) == 4 {
			// AVX-512 vectors, the same results.
			if s.Bias != nil {
				vecmath.AddBias(f32s(row), float32(b), s.ReLU)
			} else {
				vecmath.ReLU(f32s(row), f32s(row))
			}
			continue
		}
		for k, v := range row {
			if s.Bias != nil {
				v += b
			}
			if s.ReLU {
				v = max(v, 0)
			}
			row[k] = v
		}
	}
}

// maxGatherTaps bounds KH·KW for the gathered slivers (their tables live on the
// stack); larger kernels are packed element by element.
const maxGatherTaps = 64

// PackB implements gemm.BSource.
func (s *Source[T]) PackB(j0, p0, cols, kc, nr int, dst []T) {
	g := s.G
	var zero T
	fast := unsafe.Sizeof(zero) == 4 && nr == 32 && g.KH*g.KW <= maxGatherTaps && g.H*g.W < 1<<30
	for sl := 0; sl*nr < cols; sl++ {
		d := dst[sl*nr*kc : (sl+1)*nr*kc]
		jc, w := j0+sl*nr, min(nr, cols-sl*nr)
		if fast && (g.SW == 1 && s.gather(jc, w, p0, kc, d) || s.gatherIdx(jc, w, p0, kc, d)) {
			continue
		}
		s.packSliver(jc, w, p0, kc, nr, d)
	}
}

// gather packs one 32-column sliver with gemm.GatherSliver32, or reports false where
// a half of it spans two rows of window positions or the CPU cannot.
func (s *Source[T]) gather(jc, w, p0, kc int, d []T) bool {
	g := s.G
	taps := g.KH * g.KW
	var offs [2 * maxGatherTaps]int32
	var masks [2 * maxGatherTaps]uint16
	for h := range 2 {
		n := min(max(w-16*h, 0), 16) // window positions in this half
		if n == 0 {
			continue // padding: masks stay zero
		}
		oh, ow := (jc+16*h)/g.OW, (jc+16*h)%g.OW
		if ow+n > g.OW {
			return false
		}
		// Tap (kh, kw) = t, by rows of the kernel: no division per tap.
		for kh, t := 0, 0; kh < g.KH; kh++ {
			ih := oh*g.SH - g.PadT + kh*g.DH
			if ih < 0 || ih >= g.H {
				t += g.KW
				continue
			}
			for kw := 0; kw < g.KW; kw, t = kw+1, t+1 {
				iw := ow - g.PadL + kw*g.DW
				lo, hi := max(0, -iw), min(n, g.W-iw) // lanes inside the image row
				if lo >= hi {
					continue
				}
				offs[2*t+h] = int32(ih*g.W + iw)
				masks[2*t+h] = uint16((1<<hi - 1) &^ (1<<lo - 1))
			}
		}
	}
	plane := g.H * g.W
	return gemm.GatherSliver32(f32s(d), f32s(s.X), (p0/taps)*plane, offs[:2*taps], masks[:2*taps], taps, p0%taps, kc, plane)
}

// gatherIdx packs one 32-column sliver with gemm.GatherSliverIdx32: an image index for
// every lane of every kernel tap, the same for every channel. It reports false where
// the CPU cannot.
func (s *Source[T]) gatherIdx(jc, w, p0, kc int, d []T) bool {
	g := s.G
	taps := g.KH * g.KW
	var idx [32 * maxGatherTaps]int32
	var masks [2 * maxGatherTaps]uint16
	oh, ow := jc/g.OW, jc%g.OW
	for l := range w {
		for kh, t := 0, 0; kh < g.KH; kh++ {
			ih := oh*g.SH - g.PadT + kh*g.DH
			if ih < 0 || ih >= g.H {
				t += g.KW
				continue
			}
			for kw := 0; kw < g.KW; kw, t = kw+1, t+1 {
				if iw := ow*g.SW - g.PadL + kw*g.DW; iw >= 0 && iw < g.W {
					idx[32*t+l] = int32(ih*g.W + iw)
					masks[2*t+l/16] |= 1 << (l % 16)
				}
			}
		}
		if ow++; ow == g.OW { // the next window position
			oh, ow = oh+1, 0
		}
	}
	plane := g.H * g.W
	return gemm.GatherSliverIdx32(f32s(d), f32s(s.X), (p0/taps)*plane, idx[:32*taps], masks[:2*taps], taps, p0%taps, kc, plane)
}

// packSliver packs one sliver element by element.
func (s *Source[T]) packSliver(jc, w, p0, kc, nr int, d []T) {
	g := s.G
	taps := g.KH * g.KW
	for p := range kc {
		c, t := (p0+p)/taps, (p0+p)%taps
		kh, kw := t/g.KW, t%g.KW
		plane := s.X[c*g.H*g.W:]
		row := d[p*nr : (p+1)*nr]
		for jj := range row {
			var v T
			if jj < w {
				oh, ow := (jc+jj)/g.OW, (jc+jj)%g.OW
				ih, iw := oh*g.SH-g.PadT+kh*g.DH, ow*g.SW-g.PadL+kw*g.DW
				if ih >= 0 && ih < g.H && iw >= 0 && iw < g.W {
					v = plane[ih*g.W+iw]
				}
			}
			row[jj] = v
		}
	}
}

// f32s views a slice of a 4-byte Float as []float32.
func f32s[T Float](s []T) []float32 {
	return unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(s))), len(s))
}

// TransposedSource is the transposed column matrix im2col(x)ᵀ of one image (window
// positions × Im2Col's rows) as a gemm.BSource: the B of a weight gradient
// dW = dY·im2col(x)ᵀ, packed straight from the image. Each 16×16 block of a sliver
// whose 16 window positions lie in one row of them, at stride 1 along the width, is
// gathered and transposed with AVX-512 where the CPU has it
// (gemm.TransposeGather16): one masked run of an image row per column-matrix row.
// Other rows are packed element by element, to the same values.
type TransposedSource[T Float] struct {
	G Geom
	X []T // the image: G.C planes of G.H×G.W, channel 0 first
}

// Finish implements gemm.BSource: nothing.
func (s *TransposedSource[T]) Finish(c []T, ldc, i0, rows, j0, cols int) {}

// PackB implements gemm.BSource: rows [p0,p0+kc) are window positions, columns
// [j0,j0+cols) rows of the column matrix.
func (s *TransposedSource[T]) PackB(j0, p0, cols, kc, nr int, dst []T) {
	g := s.G
	var zero T
	// The gathers' offsets span the whole image (channel included) in int32.
	fast := unsafe.Sizeof(zero) == 4 && nr == 32 && int64(g.C)*int64(g.H)*int64(g.W) < 1<<31
	runs := fast && g.SW == 1 && g.OW%16 == 0
	for sl := 0; sl*nr < cols; sl++ {
		d := dst[sl*nr*kc : (sl+1)*nr*kc]
		jc, w := j0+sl*nr, min(nr, cols-sl*nr)
		p := 0
		switch {
		case runs:
			for ; p < kc && (p0+p)%16 != 0; p++ {
				s.packRow(jc, w, p0+p, d[p*nr:(p+1)*nr])
			}
			p = s.gatherBlocks(jc, w, p0, p, kc, d)
		case fast:
			p = s.gatherIdxBlocks(jc, w, p0, kc, d)
		}
		for ; p < kc; p++ {
			s.packRow(jc, w, p0+p, d[p*nr:(p+1)*nr])
		}
	}
}

// gatherBlocks packs the rows from p of a 32-column sliver (columns jc…jc+w−1) in
// blocks of 16 window positions, each in one row of them (p0+p is a multiple of 16
// and so is OW), while a whole block fits below kc, and returns the row it reached.
func (s *TransposedSource[T]) gatherBlocks(jc, w, p0, p, kc int, d []T) int {
	g := s.G
	taps := g.KH * g.KW
	plane := g.H * g.W
	if taps > maxGatherTaps {
		return p // packed element by element
	}
	// Per column-matrix row of each half: its channel's offset plus the tap's, and its
	// tap (noTap past the sliver's columns, whose mask stays 0); per tap, its image
	// offsets along each axis.
	var rel [2][16]int32
	var tapOf [2][16]uint8
	var dh, dw [maxGatherTaps]int
	for t := range taps {
		dh[t], dw[t] = t/g.KW*g.DH-g.PadT, t%g.KW*g.DW-g.PadL
	}
	minDW, maxDW := 0, 0
	for h := range 2 {
		for r := range 16 {
			tapOf[h][r] = noTap
			if 16*h+r >= w {
				continue
			}
			j := jc + 16*h + r
			c, t := j/taps, j%taps
			tapOf[h][r] = uint8(t)
			rel[h][r] = int32(c*plane + dh[t]*g.W + dw[t])
			minDW, maxDW = min(minDW, dw[t]), max(maxDW, dw[t])
		}
	}
	// A tap's mask depends on the block's row of window positions and, at the image's
	// left and right edges, on its column: recomputed (one per tap; the gather looks
	// each row's up) where those change, reused by blocks inside a row.
	x, dst := f32s(s.X), f32s(d)
	var tapMask [256]uint16
	lastOh, lastInside := -1, false
	for ; p+16 <= kc; p += 16 {
		oh, ow := (p0+p)/g.OW, (p0+p)%g.OW
		inside := ow+minDW >= 0 && ow+maxDW+16 <= g.W
		if oh != lastOh || !inside || !lastInside {
			for t := range taps {
				var m uint16
				if ih := oh + dh[t]; ih >= 0 && ih < g.H {
					m = 0xffff
					if !inside {
						iw := ow + dw[t]
						m = 0
						if lo, hi := max(0, -iw), min(16, g.W-iw); lo < hi {
							m = uint16((1<<hi - 1) &^ (1<<lo - 1))
						}
					}
				}
				tapMask[t] = m
			}
			lastOh, lastInside = oh, inside
		}
		for h := range 2 {
			if !gemm.TransposeGather16(dst[p*32+16*h:], 32, x, oh*g.W+ow, &rel[h], &tapOf[h], &tapMask) {
				return p
			}
		}
	}
	return p
}

// noTap is the tap index of a sliver row past its columns: its mask is always 0.
const noTap = 255

// gatherIdxBlocks packs the rows of a 32-column sliver (columns jc…jc+w−1) in blocks of
// 16 window positions anywhere (gemm.TransposeGatherIdx16) while a whole block fits
// below kc, and returns the row it reached.
func (s *TransposedSource[T]) gatherIdxBlocks(jc, w, p0, kc int, d []T) int {
	g := s.G
	taps := g.KH * g.KW
	plane := g.H * g.W
	var b [2]gemm.IdxBlock16
	for h := range 2 {
		for r := range 16 {
			j := jc + 16*h + r
			if 16*h+r >= w {
				b[h].DH[r] = -1 << 20 // past the sliver's columns: never inside
				continue
			}
			c, t := j/taps, j%taps
			dh, dw := t/g.KW*g.DH-g.PadT, t%g.KW*g.DW-g.PadL
			b[h].DH[r], b[h].DW[r] = int32(dh), int32(dw)
			b[h].Rel[r] = int32(c*plane + dh*g.W + dw)
		}
	}
	x, dst := f32s(s.X), f32s(d)
	p := 0
	for ; p+16 <= kc; p += 16 {
		oh, ow := (p0+p)/g.OW, (p0+p)%g.OW
		for l := range 16 {
			ih, iw := int32(oh*g.SH), int32(ow*g.SW)
			for h := range 2 {
				b[h].OH[l], b[h].OW[l], b[h].Pos[l] = ih, iw, ih*int32(g.W)+iw
			}
			if ow++; ow == g.OW {
				oh, ow = oh+1, 0
			}
		}
		for h := range 2 {
			if !gemm.TransposeGatherIdx16(dst[p*32+16*h:], 32, x, 0, &b[h], g.H, g.W) {
				return p
			}
		}
	}
	return p
}

// packRow packs row pix (a window position) of a sliver element by element.
func (s *TransposedSource[T]) packRow(jc, w, pix int, row []T) {
	g := s.G
	taps := g.KH * g.KW
	oh, ow := pix/g.OW, pix%g.OW
	for jj := range row {
		var v T
		if jj < w {
			c, t := (jc+jj)/taps, (jc+jj)%taps
			ih, iw := oh*g.SH-g.PadT+t/g.KW*g.DH, ow*g.SW-g.PadL+t%g.KW*g.DW
			if ih >= 0 && ih < g.H && iw >= 0 && iw < g.W {
				v = s.X[c*g.H*g.W+ih*g.W+iw]
			}
		}
		row[jj] = v
	}
}
