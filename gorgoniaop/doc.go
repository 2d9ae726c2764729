// Package gorgoniaop exposes fcn's convolution and transposed convolution as
// gorgonia.Op values, so a model built in gorgonia (gorgonia.org/gorgonia) gets grouped,
// dilated and strided convolutions and the transposed convolution gorgonia lacks, exact
// to PyTorch's conv2d and conv_transpose2d, and trains them with gorgonia's solvers.
//
//	y, err := gorgoniaop.Conv2d(x, w, gorgoniaop.ConvOptions{Stride: [2]int{2, 2}, Pad: [2]int{1, 1}, Groups: 2})
//	up, err := gorgoniaop.ConvTranspose2d(y, w2, gorgoniaop.ConvOptions{Stride: [2]int{2, 2}, OutputPadding: [2]int{1, 1}})
//
// Tensors are NCHW, float32 or float64; weights are laid out as PyTorch's: Conv2d
// (C_out, C_in/groups, kh, kw), ConvTranspose2d (C_in, C_out/groups, kh, kw). Zero
// option fields take PyTorch's defaults (stride 1, pad 0, dilation 1, groups 1,
// output_padding 0). There is no bias input: add one with gorgonia.BroadcastAdd.
//
// Both differentiate symbolically (gorgonia.Grad, then a TapeMachine) and automatically
// (ADOp.DoDiff, run by gorgonia's LispMachine). Symbolically, the gradient wrt x is the
// adjoint op as a node — a conv's is the transposed conv of dy with the same weight, a
// transposed conv's the conv — and the gradient wrt w a companion weight-gradient node,
// which is not differentiable itself (no second derivatives wrt w).
//
// Each execution builds a fresh fcn layer (layers.Conv or layers.Deconv) for the shapes
// at hand and copies the weight into it, so the ops hold no state and a graph may run
// on several goroutines; the price is the layer's set-up per call. Shapes and options
// are checked when the node is built, with errors naming the op and what was expected.
package gorgoniaop
