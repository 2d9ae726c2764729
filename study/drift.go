package study

import (
	"fmt"
	"math"

	"github.com/fcn-dev/fcn/layers"
	"gorgonia.org/tensor"
)

// KernelDrift is how far a deconv weight (C_in, C_out, kh, kw) has moved from the bilinear
// initialisation of its shape (layers.FillBilinear: the bilinear kernel on the channel
// diagonal, 0 elsewhere):
//
//	‖W − W_bilinear‖_F / ‖W_bilinear‖_F
//
// 0 for an untouched (frozen) bilinear layer; for a learned one, the relative size of
// what training changed. Only ungrouped weights with C_in = C_out have a bilinear init.
func KernelDrift(w *tensor.Dense) (float64, error) {
	s := w.Shape()
	if len(s) != 4 || s[0] != s[1] {
		return 0, fmt.Errorf("kernel drift: weight must be (C, C, kh, kw), got %v", s)
	}
	ref := tensor.New(tensor.Of(tensor.Float64), tensor.WithShape(s...))
	if err := layers.FillBilinear(ref, 1); err != nil {
		return 0, fmt.Errorf("kernel drift: %w", err)
	}
	b := ref.Data().([]float64)
	v := cbFloat64s(w)
	if v == nil {
		return 0, fmt.Errorf("kernel drift: weight dtype %v is not float32 or float64", w.Dtype())
	}
	var num, den float64
	for i, x := range v {
		d := x - b[i]
		num += d * d
		den += b[i] * b[i]
	}
	return math.Sqrt(num) / math.Sqrt(den), nil
}

// DiagonalKernels returns the kh×kw kernels on a deconv weight's channel diagonal,
// W[c, c] for each channel c (the ones a bilinear init fills), and their mean over
// channels, each row-major.
func DiagonalKernels(w *tensor.Dense) (perChannel [][]float64, mean []float64, err error) {
	s := w.Shape()
	if len(s) != 4 || s[0] != s[1] {
		return nil, nil, fmt.Errorf("diagonal kernels: weight must be (C, C, kh, kw), got %v", s)
	}
	v := cbFloat64s(w)
	if v == nil {
		return nil, nil, fmt.Errorf("diagonal kernels: weight dtype %v is not float32 or float64", w.Dtype())
	}
	c, kk := s[0], s[2]*s[3]
	mean = make([]float64, kk)
	for ch := range c {
		k := append([]float64(nil), v[(ch*c+ch)*kk:(ch*c+ch+1)*kk]...)
		perChannel = append(perChannel, k)
		for i, x := range k {
			mean[i] += x / float64(c)
		}
	}
	return perChannel, mean, nil
}
