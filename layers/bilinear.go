package layers

import (
	"fmt"

	"gorgonia.org/tensor"
)

// BilinearKernel is the k×k bilinear interpolation kernel, row-major, exactly as the
// FCN reference's surgery.upsample_filt computes it:
//
//	factor = (size + 1) // 2
//	center = factor − 1 if size is odd else factor − 0.5
//	filt   = (1 − |og0 − center|/factor) · (1 − |og1 − center|/factor)
//
// With k = 2s and pad s/2 (FCN's upsampling layers) a deconv with this kernel on the
// channel diagonal is bilinear upsampling by s.
func BilinearKernel(k int) []float64 {
	return bilinearKernel2D(k, k)
}

// bilinear1D is one factor of the kernel: 1 − |i − center|/factor for i in [0, k).
func bilinear1D(k int) []float64 {
	factor := (k + 1) / 2
	center := float64(factor) - 0.5
	if k%2 == 1 {
		center = float64(factor - 1)
	}
	f := make([]float64, k)
	for i := range f {
		d := float64(i) - center
		if d < 0 {
			d = -d
		}
		f[i] = 1 - d/float64(factor)
	}
	return f
}

// bilinearKernel2D is the outer product of the 1-D factors for kh and kw (for a square
// kernel the very products upsample_filt forms, in the same order).
func bilinearKernel2D(kh, kw int) []float64 {
	fh, fw := bilinear1D(kh), bilinear1D(kw)
	k := make([]float64, kh*kw)
	for i, a := range fh {
		for j, b := range fw {
			k[i*kw+j] = a * b
		}
	}
	return k
}

// FillBilinear sets a deconv weight (C_in, C_out/groups, kh, kw) to the bilinear kernel
// on the channel diagonal — input channel c feeds output channel c only, as FCN's
// surgery.interp does — and 0 elsewhere. With groups, channel c's own weight is
// weight[c, c mod (C_out/groups)], so groups = C gives each group its single kernel.
// C_in must equal C_out (each channel is upsampled on its own).
func FillBilinear(w *tensor.Dense, groups int) error {
	s := w.Shape()
	if len(s) != 4 {
		return fmt.Errorf("bilinear: weight must be (C_in, C_out/groups, kh, kw), got shape %v", s)
	}
	if groups < 1 || s[0]%groups != 0 {
		return fmt.Errorf("bilinear: groups %d does not divide the %d input channels", groups, s[0])
	}
	cin, coutG, kh, kw := s[0], s[1], s[2], s[3]
	if cin != coutG*groups {
		return fmt.Errorf("bilinear: needs as many input as output channels, got %d in and %d out", cin, coutG*groups)
	}
	filt := bilinearKernel2D(kh, kw)
	switch v := w.Data().(type) {
	case []float32:
		fillBilinearDiag(v, filt, cin, coutG, kh*kw)
	case []float64:
		fillBilinearDiag(v, filt, cin, coutG, kh*kw)
	default:
		return fmt.Errorf("bilinear: weight dtype %v is not float32 or float64", w.Dtype())
	}
	return nil
}

func fillBilinearDiag[T Float](w []T, filt []float64, cin, coutG, kk int) {
	clear(w)
	for c := range cin {
		dst := w[(c*coutG+c%coutG)*kk:]
		for i, f := range filt {
			dst[i] = T(f)
		}
	}
}

// isBilinearDiag reports whether w (cin, coutG, kh, kw) is exactly what FillBilinear
// writes (cin == coutG·groups is the caller's to check).
func isBilinearDiag[T Float](w []T, cin, coutG, kh, kw int) bool {
	filt := bilinearKernel2D(kh, kw)
	kk := kh * kw
	for c := range cin {
		for j := range coutG {
			blk := w[(c*coutG+j)*kk : (c*coutG+j+1)*kk]
			diag := j == c%coutG
			for i, v := range blk {
				want := T(0)
				if diag {
					want = T(filt[i])
				}
				if v != want {
					return false
				}
			}
		}
	}
	return true
}
