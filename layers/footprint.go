package layers

import (
	"fmt"
	"math"
	"math/bits"

	"gorgonia.org/tensor"
)

// Footprint is what a layer holds for given input shapes, worked out from the shapes
// alone, before anything is allocated: the output shape and element counts of its
// parameters (each with a gradient of the same size), its other persistent tensors
// (running statistics) and its working memory (column matrices, masks, indices).
// Memory estimates (fcn summary; the refusals of train, eval, predict and bench) add
// these up over a graph.
type Footprint struct {
	Out     tensor.Shape
	Params  int64
	Buffers int64
	Scratch int64
}

// Footprinter is implemented by every layer type.
type Footprinter interface {
	Footprint(in []tensor.Shape) (Footprint, error)
}

// MaxDim bounds any tensor dimension and hyper-parameter an estimate accepts: no image
// side, channel count or kernel comes near it, and it keeps every product below are
// checked against int64 overflow anyway.
const MaxDim = 1 << 31

// elems is the number of elements of shape, or an error if it overflows int64.
func elems(prefix string, s tensor.Shape) (int64, error) {
	return mulDims(prefix, []int(s)...)
}

// mulDims multiplies sizes, refusing a negative one, one above MaxDim, and a product
// that overflows int64.
func mulDims(prefix string, dims ...int) (int64, error) {
	p := uint64(1)
	for _, d := range dims {
		if d < 0 || d > MaxDim {
			return 0, fmt.Errorf("%s: size %d is out of range [0, %d]", prefix, d, MaxDim)
		}
		hi, lo := bits.Mul64(p, uint64(d))
		if hi != 0 || lo > math.MaxInt64 {
			return 0, fmt.Errorf("%s: %v elements overflow a 64-bit count", prefix, dims)
		}
		p = lo
	}
	return int64(p), nil
}

// addElems adds counts, refusing an overflow.
func addElems(prefix string, xs ...int64) (int64, error) {
	var s int64
	for _, x := range xs {
		if x < 0 || s > math.MaxInt64-x {
			return 0, fmt.Errorf("%s: element count overflows a 64-bit count", prefix)
		}
		s += x
	}
	return s, nil
}

// checkDims refuses an input shape with a dimension outside [1, MaxDim].
func checkDims(prefix string, in []tensor.Shape) error {
	for i, s := range in {
		for _, d := range s {
			if d < 1 || d > MaxDim {
				return fmt.Errorf("%s: input %d is %s: each dimension must be in [1, %d]", prefix, i, dimsString(s), MaxDim)
			}
		}
	}
	return nil
}

// sameShapeFootprint is the footprint of an element-wise layer: the output is input 0's
// shape; scratch elements per input element (a mask, saved values) are given.
func sameShapeFootprint(prefix string, in []tensor.Shape, scratchPerElem int64) (Footprint, error) {
	if len(in) == 0 {
		return Footprint{}, fmt.Errorf("%s: no input", prefix)
	}
	if err := checkDims(prefix, in); err != nil {
		return Footprint{}, err
	}
	n, err := elems(prefix, in[0])
	if err != nil {
		return Footprint{}, err
	}
	var s int64
	for range scratchPerElem {
		if s, err = addElems(prefix, s, n); err != nil {
			return Footprint{}, err
		}
	}
	return Footprint{Out: append(tensor.Shape(nil), in[0]...), Scratch: s}, nil
}

// channelsOf is dimension 1 of an N×C×… shape (1 for a vector).
func channelsOf(s tensor.Shape) int {
	if len(s) < 2 {
		return 1
	}
	return s[1]
}

// convFootprint is the footprint of a conv or deconv whose column matrices have krows
// rows and whose blocks cover at most convMaxCols window positions (planChunks), plus
// the image-parallel paths' block (imageCols) and the block of outputs of several images
// side by side; weights the number of weight elements (also the flipped copy).
func convFootprint(prefix string, out tensor.Shape, params, weights int64, krows, positions, outChannels int) (Footprint, error) {
	cols := int64(min(positions, convMaxCols))
	col, err := mulDims(prefix, krows, int(cols))
	if err != nil {
		return Footprint{}, err
	}
	tmp, err := mulDims(prefix, outChannels, int(cols))
	if err != nil {
		return Footprint{}, err
	}
	img := int64(imageCols)
	if w, err := mulDims(prefix, krows, out[len(out)-1]); err == nil && w > img {
		img = w
	}
	scratch, err := addElems(prefix, col, tmp, img, weights, weights)
	if err != nil {
		return Footprint{}, err
	}
	return Footprint{Out: out, Params: params, Scratch: scratch}, nil
}
