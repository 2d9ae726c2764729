package layers

import (
	"fmt"
	"strconv"
	"strings"
	"unsafe"

	"gorgonia.org/tensor"
)

// Small helpers shared by the parameter-free layers and batchnorm/loss.

// floatsOf returns d's backing array as []T without allocating, or nil for a nil
// tensor (no gradient wanted). Dense.Data builds its slice through reflect and allocates
// on every call, which Forward and Backward must not do in steady state. It panics if
// d's dtype is not T (a programmer error: Setup fixed the dtype).
func floatsOf[T Float](d *tensor.Dense) []T {
	var z T
	if d == nil {
		return nil
	}
	if d.Dtype() != dtypeFor[T]() {
		panic(fmt.Sprintf("layers: tensor dtype %v, kernel wants %T", d.Dtype(), z))
	}
	raw := d.Raw
	if len(raw) == 0 {
		return nil
	}
	return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(raw))), len(raw)/int(unsafe.Sizeof(z)))
}

// int32sOf is floatsOf for Int32 label tensors.
func int32sOf(d *tensor.Dense) []int32 {
	if d.Dtype() != tensor.Int32 {
		panic(fmt.Sprintf("layers: tensor dtype %v, want int32", d.Dtype()))
	}
	raw := d.Raw
	if len(raw) == 0 {
		return nil
	}
	return unsafe.Slice((*int32)(unsafe.Pointer(unsafe.SliceData(raw))), len(raw)/4)
}

// dtypeFor is the tensor dtype whose kernels run with element type T (Float is
// ~float32 | ~float64, so the size decides).
func dtypeFor[T Float]() tensor.Dtype {
	var z T
	if unsafe.Sizeof(z) == 4 {
		return tensor.Float32
	}
	return tensor.Float64
}

// isFloat32 reports whether the tensor runs the float32 kernels (else float64).
func isFloat32(d *tensor.Dense) bool { return d.Dtype() == tensor.Float32 }

// checkFloatDtype rejects dtypes the kernels do not implement.
func checkFloatDtype(prefix string, dt tensor.Dtype) error {
	if dt != tensor.Float32 && dt != tensor.Float64 {
		return fmt.Errorf("%s: dtype %v not supported (float32 or float64)", prefix, dt)
	}
	return nil
}

// layerPrefix is the start of every error a layer returns: its type and its name.
func layerPrefix(typ, name string) string {
	if name == "" {
		return typ
	}
	return typ + " " + name
}

// dimsString writes a shape as "21×16×16".
func dimsString(s tensor.Shape) string {
	var b strings.Builder
	for i, d := range s {
		if i > 0 {
			b.WriteString("×")
		}
		b.WriteString(strconv.Itoa(d))
	}
	if len(s) == 0 {
		return "scalar"
	}
	return b.String()
}

// checkInputCount returns an error unless there are exactly want inputs.
func checkInputCount(prefix string, in []tensor.Shape, want int) error {
	if len(in) != want {
		return fmt.Errorf("%s: needs %d input(s), got %d", prefix, want, len(in))
	}
	return nil
}

// checkNCHW returns an error unless s is a non-empty 4-D shape.
func checkNCHW(prefix, what string, s tensor.Shape) error {
	if len(s) != 4 {
		return fmt.Errorf("%s: %s must be 4-D N×C×H×W, got %s", prefix, what, dimsString(s))
	}
	for _, d := range s {
		if d <= 0 {
			return fmt.Errorf("%s: %s has an empty dimension: %s", prefix, what, dimsString(s))
		}
	}
	return nil
}

// spatialPair turns a config value for a spatial hyper-parameter (nil: use def;
// one value: both axes; two values: [h, w]) into (h, w), checking each is ≥ min.
func spatialPair(prefix, field string, v []int, def [2]int, min int) ([2]int, error) {
	var p [2]int
	switch len(v) {
	case 0:
		p = def
	case 1:
		p = [2]int{v[0], v[0]}
	case 2:
		p = [2]int{v[0], v[1]}
	default:
		return p, fmt.Errorf("%s: %s must be one int or an [h, w] pair, got %d values", prefix, field, len(v))
	}
	for _, x := range p {
		if x < min {
			return p, fmt.Errorf("%s: %s must be ≥ %d, got %v", prefix, field, min, v)
		}
	}
	return p, nil
}

// growSlice returns a slice of length n reusing buf's storage when it is large enough
// (buffers are sized once per shape, not per call).
func growSlice[E any](buf []E, n int) []E {
	if cap(buf) >= n {
		return buf[:n]
	}
	return make([]E, n)
}

// fillConst sets every element of v to c.
func fillConst[T Float](v []T, c T) {
	for i := range v {
		v[i] = c
	}
}

// b2i is 1 for true and 0 for false; the compiler emits SETcc, so kernels can multiply
// by a condition instead of branching on unpredictable data.
func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// setupElementwise checks the one float input of an element-wise layer (relu,
// leaky_relu, dropout) and returns its element count; the output has its shape.
func setupElementwise(prefix string, in []tensor.Shape, dt tensor.Dtype) (int, error) {
	if err := checkInputCount(prefix, in, 1); err != nil {
		return 0, err
	}
	if err := checkFloatDtype(prefix, dt); err != nil {
		return 0, err
	}
	return in[0].TotalSize(), nil
}

// setupChannels checks the one float N×C×… input of a per-channel layer (batchnorm,
// prelu, scale) and returns N, C and the size of one channel's plane.
func setupChannels(prefix string, in []tensor.Shape, dt tensor.Dtype) (n, c, plane int, err error) {
	if err := checkInputCount(prefix, in, 1); err != nil {
		return 0, 0, 0, err
	}
	if err := checkFloatDtype(prefix, dt); err != nil {
		return 0, 0, 0, err
	}
	x := in[0]
	if len(x) < 2 || x.TotalSize() == 0 {
		return 0, 0, 0, fmt.Errorf("%s: input must be N×C×… with no empty dimension, got %s", prefix, dimsString(x))
	}
	return x[0], x[1], x.TotalSize() / (x[0] * x[1]), nil
}
