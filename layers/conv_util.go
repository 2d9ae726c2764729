package layers

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"unsafe"

	"github.com/fcn-dev/fcn/internal/par"
	"github.com/fcn-dev/fcn/layers/internal/gemm"
	"github.com/fcn-dev/fcn/layers/internal/im2col"
	"github.com/fcn-dev/fcn/layers/internal/vecmath"
	"gorgonia.org/tensor"
)

// Shared by conv and deconv: option parsing, parameter set-up and weight initialisation.

// ConvConfig configures a conv layer (and, embedded in DeconvConfig, a deconv layer).
// Spatial options take one value for both axes ([v]) or a pair ([h, w]); nil means the
// default; the registry (conv_register.go) maps experiment options onto it.
type ConvConfig struct {
	// Out is the number of output channels (required, ≥ 1).
	Out int
	// Kernel is the window size kh×kw (required, each ≥ 1).
	Kernel []int
	// Stride defaults to 1.
	Stride []int
	// Pad is the zero padding on each side; defaults to 0.
	Pad []int
	// Dilation defaults to 1.
	Dilation []int
	// Groups splits the channels into groups convolved separately; 0 means 1.
	// It must divide both the input and the output channel count.
	Groups int
	// Bias adds a learnable per-channel bias; nil means true.
	Bias *bool
	// Init is the weight initialisation: conv "he" (default: Kaiming normal, fan_in),
	// "xavier" (Glorot uniform as PyTorch's xavier_uniform_), "gaussian" (N(0, Std²)),
	// "zero", "pytorch" (PyTorch's reset_parameters: weight and bias uniform ±1/√fan_in);
	// deconv also "bilinear" (its default). Biases start at zero except for "pytorch".
	Init string
	// Std is the standard deviation for Init "gaussian" (required > 0 there).
	Std float64
	// LRMult and DecayMult are Caffe's per-layer multipliers for every parameter of the
	// layer; nil means 1.
	LRMult    *float64
	DecayMult *float64
	// Learn false freezes every parameter (LRMult and DecayMult 0); nil means true.
	Learn *bool
}

// convSpec is a ConvConfig checked and with defaults filled in.
type convSpec struct {
	out                int
	k, s, p, d         [2]int
	groups             int
	bias               bool
	init               string
	std                float64
	lrMult, decayMult  float64
	kind, name, prefix string
}

// pair reads an int-or-[h,w] option.
func convPair(prefix, field string, v []int, def, lo int) ([2]int, error) {
	var r [2]int
	switch len(v) {
	case 0:
		if def < lo {
			return r, fmt.Errorf("%s: %s is required", prefix, field)
		}
		return [2]int{def, def}, nil
	case 1:
		r = [2]int{v[0], v[0]}
	case 2:
		r = [2]int{v[0], v[1]}
	default:
		return r, fmt.Errorf("%s: %s must be one value or [h, w], got %v", prefix, field, v)
	}
	if r[0] < lo || r[1] < lo {
		return r, fmt.Errorf("%s: %s must be ≥ %d, got %v", prefix, field, lo, v)
	}
	return r, nil
}

// check validates c for a layer of the given kind ("conv", "deconv") and name.
// inits lists the accepted Init values; the first is the default.
func (c ConvConfig) check(kind, name string, inits []string) (convSpec, error) {
	prefix := kind
	if name != "" {
		prefix = kind + " " + name
	}
	sp := convSpec{kind: kind, name: name, prefix: prefix}
	var err error
	if c.Out < 1 {
		return sp, fmt.Errorf("%s: out must be ≥ 1 output channels, got %d", sp.prefix, c.Out)
	}
	sp.out = c.Out
	if sp.k, err = convPair(sp.prefix, "kernel", c.Kernel, 0, 1); err != nil {
		return sp, err
	}
	if sp.s, err = convPair(sp.prefix, "stride", c.Stride, 1, 1); err != nil {
		return sp, err
	}
	if sp.p, err = convPair(sp.prefix, "pad", c.Pad, 0, 0); err != nil {
		return sp, err
	}
	if sp.d, err = convPair(sp.prefix, "dilation", c.Dilation, 1, 1); err != nil {
		return sp, err
	}
	switch {
	case c.Groups < 0:
		return sp, fmt.Errorf("%s: groups must be ≥ 1, got %d", sp.prefix, c.Groups)
	case c.Groups == 0:
		sp.groups = 1
	default:
		sp.groups = c.Groups
	}
	if sp.out%sp.groups != 0 {
		return sp, fmt.Errorf("%s: groups %d does not divide out %d", sp.prefix, sp.groups, sp.out)
	}
	sp.bias = c.Bias == nil || *c.Bias
	sp.init = c.Init
	if sp.init == "" {
		sp.init = inits[0]
	}
	known := false
	for _, s := range inits {
		known = known || s == sp.init
	}
	if !known {
		return sp, fmt.Errorf("%s: unknown init %q (want one of %v)", sp.prefix, c.Init, inits)
	}
	if sp.init == "gaussian" && !(c.Std > 0) {
		return sp, fmt.Errorf("%s: init gaussian needs std > 0, got %v", sp.prefix, c.Std)
	}
	if c.Std < 0 || math.IsNaN(c.Std) || math.IsInf(c.Std, 0) {
		return sp, fmt.Errorf("%s: std must be a finite value ≥ 0, got %v", sp.prefix, c.Std)
	}
	sp.std = c.Std
	sp.lrMult, sp.decayMult = 1, 1
	if c.LRMult != nil {
		sp.lrMult = *c.LRMult
	}
	if c.DecayMult != nil {
		sp.decayMult = *c.DecayMult
	}
	if sp.lrMult < 0 || sp.decayMult < 0 || math.IsNaN(sp.lrMult) || math.IsNaN(sp.decayMult) {
		return sp, fmt.Errorf("%s: lr_mult and decay_mult must be ≥ 0, got %v and %v", sp.prefix, sp.lrMult, sp.decayMult)
	}
	if c.Learn != nil && !*c.Learn {
		sp.lrMult, sp.decayMult = 0, 0
	}
	return sp, nil
}

// keff is the dilated kernel extent d·(k−1)+1 per axis.
// checkSizes refuses hyper-parameters beyond MaxDim, so that the size arithmetic of an
// estimate cannot overflow.
func (sp *convSpec) checkSizes() error {
	for _, v := range []struct {
		name string
		v    [2]int
	}{{"kernel", sp.k}, {"stride", sp.s}, {"pad", sp.p}, {"dilation", sp.d}, {"out", [2]int{sp.out, sp.groups}}} {
		for _, x := range v.v {
			if x > MaxDim/4 {
				return fmt.Errorf("%s: %s %d is beyond any image (at most %d)", sp.prefix, v.name, x, MaxDim/4)
			}
		}
	}
	if e := sp.keff(); e[0] > MaxDim/4 || e[1] > MaxDim/4 {
		return fmt.Errorf("%s: kernel %v dilated by %v spans %v: beyond any image", sp.prefix, sp.k, sp.d, e)
	}
	return nil
}

func (sp *convSpec) keff() [2]int {
	return [2]int{sp.d[0]*(sp.k[0]-1) + 1, sp.d[1]*(sp.k[1]-1) + 1}
}

// convCheckInput validates the single NCHW float input shared by conv and deconv.
func convCheckInput(prefix string, in []tensor.Shape, dt tensor.Dtype) (n, c, h, w int, err error) {
	if len(in) != 1 {
		return 0, 0, 0, 0, fmt.Errorf("%s: wants 1 input, got %d", prefix, len(in))
	}
	if len(in[0]) != 4 {
		return 0, 0, 0, 0, fmt.Errorf("%s: input must be N×C×H×W, got shape %v", prefix, in[0])
	}
	if dt != tensor.Float32 && dt != tensor.Float64 {
		return 0, 0, 0, 0, fmt.Errorf("%s: dtype must be float32 or float64, got %v", prefix, dt)
	}
	n, c, h, w = in[0][0], in[0][1], in[0][2], in[0][3]
	if n < 1 || c < 1 || h < 1 || w < 1 {
		return 0, 0, 0, 0, fmt.Errorf("%s: input shape %v has an empty dimension", prefix, in[0])
	}
	return n, c, h, w, nil
}

// setupParams allocates weight (and bias) on the first Setup and checks that later
// Setups would give them the same shape and dtype.
func (sp *convSpec) setupParams(weight, bias **Param, wshape tensor.Shape, dt tensor.Dtype) error {
	if *weight != nil {
		old := (*weight).Value
		if !old.Shape().Eq(wshape) {
			return fmt.Errorf("%s: input channels changed: weight would be %v but is %v", sp.prefix, wshape, old.Shape())
		}
		if old.Dtype() != dt {
			return fmt.Errorf("%s: dtype changed from %v to %v", sp.prefix, old.Dtype(), dt)
		}
		return nil
	}
	newParam := func(name string, s tensor.Shape) *Param {
		return &Param{
			Name:      name,
			Value:     tensor.New(tensor.WithShape(s.Clone()...), tensor.Of(dt)),
			Grad:      tensor.New(tensor.WithShape(s.Clone()...), tensor.Of(dt)),
			LRMult:    sp.lrMult,
			DecayMult: sp.decayMult,
		}
	}
	*weight = newParam("weight", wshape)
	if sp.bias {
		*bias = newParam("bias", tensor.Shape{sp.out})
	}
	return nil
}

// convInitWeight fills a weight of shape (A, B, kh, kw) by kind; fan_in = B·kh·kw and
// fan_out = A·kh·kw as PyTorch computes them for both Conv2d and ConvTranspose2d.
func convInitWeight(w *tensor.Dense, kind string, std float64, rng *rand.Rand) {
	s := w.Shape()
	rf := s[2] * s[3]
	fanIn, fanOut := float64(s[1]*rf), float64(s[0]*rf)
	var draw func() float64
	switch kind {
	case "he":
		sd := math.Sqrt(2 / fanIn)
		draw = func() float64 { return sd * rng.NormFloat64() }
	case "xavier":
		a := math.Sqrt(6 / (fanIn + fanOut))
		draw = func() float64 { return a * (2*rng.Float64() - 1) }
	case "gaussian":
		draw = func() float64 { return std * rng.NormFloat64() }
	case "pytorch":
		// reset_parameters: kaiming_uniform_(a=√5), gain √(2/(1+5)), so the bound
		// gain·√(3/fan_in) is 1/√fan_in.
		b := 1 / math.Sqrt(fanIn)
		draw = func() float64 { return b * (2*rng.Float64() - 1) }
	case "zero":
		draw = func() float64 { return 0 }
	default:
		panic("layers: convInitWeight: unknown init " + kind) // check() rejects these
	}
	switch v := w.Data().(type) {
	case []float32:
		for i := range v {
			v[i] = float32(draw())
		}
	case []float64:
		for i := range v {
			v[i] = draw()
		}
	}
}

// convInitBias fills the bias after the weight w was drawn: uniform(±1/√fan_in) for
// init "pytorch" (PyTorch's reset_parameters, fan_in from w as for the weight), else 0.
func convInitBias(b, w *tensor.Dense, kind string, rng *rand.Rand) {
	if kind != "pytorch" {
		convZero(b)
		return
	}
	s := w.Shape()
	bound := 1 / math.Sqrt(float64(s[1]*s[2]*s[3]))
	switch v := b.Data().(type) {
	case []float32:
		for i := range v {
			v[i] = float32(bound * (2*rng.Float64() - 1))
		}
	case []float64:
		for i := range v {
			v[i] = bound * (2*rng.Float64() - 1)
		}
	}
}

// convZero sets every element of a float tensor to 0.
func convZero(d *tensor.Dense) {
	switch v := d.Data().(type) {
	case []float32:
		clear(v)
	case []float64:
		clear(v)
	}
}

// biasGradJob adds the bias gradient of a batch — the per-channel sums of the output
// gradient — one task per channel: each channel adds its image sums image after image,
// so the result does not depend on how the channels are shared out. Each image's sum
// runs in interleaved partial sums added in a fixed order (one chain of dependent
// additions was bound by their latency): four (sum4), or vecmath.MaskSum's sixteen
// for float32. With y set (a conv's fused ReLU) it first zeroes dy where y is not
// positive, in place, in the same pass.
type biasGradJob[T Float] struct {
	db, dy, y []T
	n, c, p   int
}

func (j *biasGradJob[T]) run(db, dy, y []T, n, c, p int) {
	j.db, j.dy, j.y, j.n, j.c, j.p = db, dy, y, n, c, p
	par.Run(c, j)
	j.db, j.dy, j.y = nil, nil, nil
}

func (j *biasGradJob[T]) Do(c int) {
	for n := range j.n {
		lo, hi := (n*j.c+c)*j.p, (n*j.c+c+1)*j.p
		d := j.dy[lo:hi]
		if unsafe.Sizeof(d[0]) == 4 {
			// Mask and sum in one pass of AVX-512 vectors (16 lane sums).
			var y []float32
			if j.y != nil {
				y = f32(j.y[lo:hi])
			}
			j.db[c] += T(vecmath.MaskSum(f32(d), y))
			continue
		}
		if j.y != nil {
			reluBackwardAssign(j.y[lo:hi], d, d)
		}
		j.db[c] += sum4(d)
	}
}

// sum4 is the sum of v in four interleaved partial sums, ((s0+s1)+(s2+s3)) + the tail.
func sum4[T Float](v []T) T {
	var s0, s1, s2, s3 T
	i := 0
	for ; i+4 <= len(v); i += 4 {
		s0 += v[i]
		s1 += v[i+1]
		s2 += v[i+2]
		s3 += v[i+3]
	}
	s := (s0 + s1) + (s2 + s3)
	for ; i < len(v); i++ {
		s += v[i]
	}
	return s
}

// convMustShape panics with a clear message when Forward/Backward is handed a tensor of
// another shape than Setup saw: that is a programmer error, not bad user input.
func convMustShape(prefix, what string, d *tensor.Dense, want tensor.Shape) {
	if d != nil && !d.Shape().Eq(want) {
		panic(fmt.Sprintf("%s: %s has shape %v, Setup was for %v", prefix, what, d.Shape(), want))
	}
}

// paramValue is p's value as []T, nil for no parameter (no bias).
func paramValue[T Float](p *Param) []T {
	if p == nil {
		return nil
	}
	return floatsOf[T](p.Value)
}

// paramGrad is the gradient Backward adds into: nil for no parameter or a frozen one,
// which gets no gradient, as in Caffe.
func paramGrad[T Float](p *Param) []T {
	if p == nil || p.Frozen() {
		return nil
	}
	return floatsOf[T](p.Grad)
}

// convBackwardArgs checks Backward's tensors against the shapes of Setup and returns
// the input, the output gradient and the input gradient (nil when none is wanted).
func convBackwardArgs(prefix string, in []*tensor.Dense, dOut *tensor.Dense, dIn []*tensor.Dense, inShape, outShape tensor.Shape) (x, dy, dx *tensor.Dense) {
	convMustShape(prefix, "input", in[0], inShape)
	convMustShape(prefix, "output gradient", dOut, outShape)
	if len(dIn) > 0 {
		dx = dIn[0]
		convMustShape(prefix, "input gradient", dx, inShape)
	}
	return in[0], dOut, dx
}

// ---- Work shared by conv and deconv on the fast path: column blocks, parallel
// im2col/col2im, and the small copies around grouped images.

// Column blocks are large: each block is one GEMM call, and with two or more threads
// every call costs a round of waking and waiting for helpers, which for the short
// products of an FCN's first stages (32 or 64 output channels) cost as much as the
// product itself with blocks sized for L2; measured on the 2-core machine, W1 forward
// plus backward went from 79 to 52 ms and the W4 step from ~570 to ~500 ms going from
// 512 KiB to 4 MiB blocks, the column block then living in L3. Images too small to fill
// convMinCols columns are placed side by side, several to a block, so that e.g. the
// 16×16 maps of an FCN's last stage are multiplied in one GEMM per few images instead
// of one small GEMM per image. The sizes depend on the shapes only — never on the
// thread count — since the order in which a weight gradient sums its blocks follows
// them.
const (
	convColBytes = 4 << 20 // target bytes of one column block
	convMinCols  = 2048    // fewer columns than this spend too much on waking helpers
	convMaxCols  = 16384
)

// convChunks cuts the columns of a batch's column matrices — n images of oh×ow window
// positions each — into blocks: nb ≥ 2 whole images side by side, or runs of rows
// window rows of one image. It depends on shapes only, so the order in which a weight
// gradient sums its blocks never depends on the thread count.
type convChunks struct {
	n, oh, ow int
	nb        int // images per block
	rows      int // window rows per block (oh when nb > 1)
}

// planChunks chooses the blocks for column matrices of krows rows of size-byte elements
// multiplied by a weight matrix of m rows. Each GEMM call packs the weight anew, so a
// block has at least 4·m columns: packing the weight then costs at most a quarter of
// packing the block.
func planChunks(n, oh, ow, krows, size, m int) convChunks {
	target := min(max(convMinCols, convColBytes/(krows*size), 4*m), convMaxCols)
	c := convChunks{n: n, oh: oh, ow: ow, nb: 1, rows: oh}
	p := oh * ow
	switch {
	case 2*p <= target && n > 1:
		c.nb = min(n, target/p)
	case p > target:
		rows := min(max((target+ow-1)/ow, 1), oh)
		parts := (oh + rows - 1) / rows
		c.rows = rows
		if even := (oh + parts - 1) / parts; even*ow >= convMinCols {
			c.rows = even // the same number of blocks, of more even sizes
		}
	}
	return c
}

// count is the number of blocks.
func (c convChunks) count() int {
	if c.nb > 1 {
		return (c.n + c.nb - 1) / c.nb
	}
	return c.n * ((c.oh + c.rows - 1) / c.rows)
}

// block returns block i: images [n0, n0+cnt) and window rows [r0, r1) of each. Image j
// of the block holds columns [j·(r1−r0)·ow, (j+1)·(r1−r0)·ow) of the block.
func (c convChunks) block(i int) (n0, cnt, r0, r1 int) {
	if c.nb > 1 {
		n0 = i * c.nb
		return n0, min(c.nb, c.n-n0), 0, c.oh
	}
	per := (c.oh + c.rows - 1) / c.rows
	n0, r0 = i/per, (i%per)*c.rows
	return n0, 1, r0, min(r0+c.rows, c.oh)
}

// maxCols is the widest block's column count.
func (c convChunks) maxCols() int { return c.nb * c.rows * c.ow }

// backBlocked is the blocked backward of a deconv, and of a conv at stride 1 through its
// flipped kernel, which has the same shape. Per block of the window positions of g
// (chunks), col = im2col(dy) shared by all threads, then per group
// dw_g (+)= x_g·col_gᵀ if dw != nil (the first block with beta dwBeta0, later ones
// adding) and dx_g (+)= w_g·col_g if dx != nil (beta dxBeta: 0 writes dx, which the
// blocks cover once). x and dx have cin channels of g.OH×g.OW pixels per image; with
// direct, dy is its own column matrix (a 1×1 deconv) unless images go side by side.
// bf16 runs the products on bf16 operands (see mm).
func backBlocked[T Float](g im2col.Geom, chunks convChunks, groups, cin int, x, dy, w, dx, dw []T, dwBeta0, dxBeta T, direct bool, col, tmp []T, job *colJob[T], bf16 bool) {
	G := groups
	K, M, P := g.Rows()/G, cin/G, g.OH*g.OW
	inSz, outSz := cin*P, g.C*g.H*g.W
	for bi := range chunks.count() {
		n0, cnt, r0, r1 := chunks.block(bi)
		ld := cnt * (r1 - r0) * g.OW
		cm, ldc := dy[n0*outSz:], P
		if !direct || cnt > 1 {
			job.run(g, dy[n0*outSz:], outSz, col, ld, cnt, r0, r1, false)
			cm, ldc = col, ld
		}
		if dw != nil {
			am, lda := x[n0*inSz+r0*g.OW:], P
			if cnt > 1 {
				gatherImages(tmp, x[n0*inSz:], cnt, cin, P, inSz)
				am, lda = tmp, ld
			}
			beta := T(1)
			if bi == 0 {
				beta = dwBeta0
			}
			for gi := range G {
				mm(bf16, false, true, M, K, ld,
					1, am[gi*M*lda:], lda,
					cm[gi*K*ldc:], ldc,
					beta, dw[gi*M*K:], K)
			}
		}
		if dx != nil {
			dm, ldd, beta := dx[n0*inSz+r0*g.OW:], P, dxBeta
			if cnt > 1 {
				dm, ldd, beta = tmp, ld, 0
			}
			for gi := range G {
				mm(bf16, false, false, M, ld, K,
					1, w[gi*M*K:], K,
					cm[gi*K*ldc:], ldc,
					beta, dm[gi*M*ldd:], ldd)
			}
			if cnt > 1 {
				scatterImages(dx[n0*inSz:], tmp, cnt, cin, P, inSz, dxBeta != 0)
			}
		}
	}
}

// colJob runs Im2ColPart or Col2ImPart on a block of images in parallel, one task per
// image and run of channels: tasks touch disjoint rows of the column block and, for
// col2im, disjoint image planes.
type colJob[T Float] struct {
	g        im2col.Geom
	im       []T // the block's first image; images are imSz apart
	imSz     int
	col      []T // the block's first column
	ld       int
	r0, r1   int
	cblk     int // channels per task
	nblk     int // tasks per image
	back     bool
	imgStart int // column offset between images in col: (r1−r0)·OW
	ncol     int // im2col/col2im tasks

	bias biasGradJob[T] // the layer's bias gradient, in parallel too
	flip flipJob[T]     // conv's weight to and from the flipped layout
}

// run lowers (back: adds back) images [0, cnt) of im, window rows [r0, r1), to or from
// the column block col of leading dimension ld.
func (j *colJob[T]) run(g im2col.Geom, im []T, imSz int, col []T, ld, cnt, r0, r1 int, back bool) {
	procs := runtime.GOMAXPROCS(0)
	j.nblk, j.cblk, j.ncol = 0, 0, 0
	if cnt > 0 {
		per := max(1, (4*procs+cnt-1)/cnt) // a few tasks per thread
		j.nblk = min(g.C, per)
		j.cblk = (g.C + j.nblk - 1) / j.nblk
		j.nblk = (g.C + j.cblk - 1) / j.cblk
		j.ncol = cnt * j.nblk
	}
	j.g, j.im, j.imSz, j.col, j.ld, j.r0, j.r1, j.back = g, im, imSz, col, ld, r0, r1, back
	j.imgStart = (r1 - r0) * g.OW
	par.Run(j.ncol, j)
	j.im, j.col = nil, nil
}

func (j *colJob[T]) Do(i int) {
	img, b := i/j.nblk, i%j.nblk
	c0 := b * j.cblk
	c1 := min(c0+j.cblk, j.g.C)
	im := j.im[img*j.imSz : (img+1)*j.imSz]
	col := j.col[img*j.imgStart:]
	if j.back {
		im2col.Col2ImPart(j.g, col, im, j.ld, c0, c1, j.r0, j.r1)
	} else {
		im2col.Im2ColPart(j.g, im, col, j.ld, c0, c1, j.r0, j.r1)
	}
}

// addBias adds v[row] to each of rows × cols of c (leading dimension ldc): a conv's
// bias, after its product (y = W·col + b, Caffe's order, whatever the path). float32
// runs on AVX-512 vectors (vecmath.AddBias), with the same results.
func addBias[T Float](c []T, rows, cols, ldc int, v []T) {
	for r := range rows {
		row := c[r*ldc : r*ldc+cols]
		if unsafe.Sizeof(v[r]) == 4 {
			vecmath.AddBias(f32(row), float32(v[r]), false)
			continue
		}
		for i := range row {
			row[i] += v[r]
		}
	}
}

// biasJob adds a bias to the rows of a block in parallel (addBias), a few rows a task.
type biasJob[T Float] struct {
	c, v            []T
	rows, cols, ldc int
	tasks           int
}

func (j *biasJob[T]) run(c []T, rows, cols, ldc int, v []T) {
	j.c, j.v, j.rows, j.cols, j.ldc = c, v, rows, cols, ldc
	j.tasks = min(rows, 4*runtime.GOMAXPROCS(0))
	par.Run(j.tasks, j)
	j.c, j.v = nil, nil
}

func (j *biasJob[T]) Do(i int) {
	r0, r1 := i*j.rows/j.tasks, (i+1)*j.rows/j.tasks
	addBias(j.c[r0*j.ldc:], r1-r0, j.cols, j.ldc, j.v[r0:r1])
}

// fillRows sets rows × cols of c (leading dimension ldc) to v[row], or to 0 when v is nil.
func fillRows[T Float](c []T, rows, cols, ldc int, v []T) {
	for r := range rows {
		row := c[r*ldc : r*ldc+cols]
		if v == nil {
			clear(row)
			continue
		}
		fill(row, v[r])
	}
}

// fill sets every element of s to v: a few by hand, then by doubling copies, which run
// at memmove's vector speed where a plain loop stores one element at a time.
func fill[T Float](s []T, v T) {
	n := min(len(s), 16)
	for i := range n {
		s[i] = v
	}
	for n < len(s) {
		n += copy(s[n:], s[:n])
	}
}

// gatherImages copies rows × p of cnt images (image j at src[j·sz], rows at stride p)
// side by side into dst (leading dimension cnt·p): dst[r, j·p + i] = src_j[r, i].
func gatherImages[T Float](dst, src []T, cnt, rows, p, sz int) {
	ld := cnt * p
	for j := range cnt {
		for r := range rows {
			copy(dst[r*ld+j*p:r*ld+(j+1)*p], src[j*sz+r*p:j*sz+(r+1)*p])
		}
	}
}

// scatterImages is gatherImages' inverse: it writes (add: adds) the side-by-side
// blocks of src back into cnt images.
func scatterImages[T Float](dst, src []T, cnt, rows, p, sz int, add bool) {
	ld := cnt * p
	for j := range cnt {
		for r := range rows {
			d, s := dst[j*sz+r*p:j*sz+(r+1)*p], src[r*ld+j*p:r*ld+(j+1)*p]
			if !add {
				copy(d, s)
				continue
			}
			for i, v := range s {
				d[i] += v
			}
		}
	}
}

// GEMMKernel names the matrix-multiply kernel conv and deconv run on ("avx512", "avx2"
// or "portable": the fastest this CPU supports, unless the environment variable
// FCN_GEMM_KERNEL names another), for reports such as fcn bench.
func GEMMKernel() string { return gemm.KernelName() }
