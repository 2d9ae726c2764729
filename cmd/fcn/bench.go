package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/fcn-dev/fcn/autodiff"
	"github.com/fcn-dev/fcn/configs"
	"github.com/fcn-dev/fcn/internal/fmaroof"
	"github.com/fcn-dev/fcn/layers"
	"github.com/fcn-dev/fcn/train"
	"gorgonia.org/tensor"
)

const benchUsage = `usage: fcn bench [--threads N] [--iters N] [--warmup N] [--only W1,...,GEMM] [--precision fp32|bf16] [--json]

Times the benchmark workloads (float32, NCHW, batch 8) and prints the median time and
GFLOP/s of each:

  W1  conv 3×3, stride 1, pad 1, bias: x 8×64×64×64 → 8×64×64×64
  W2  transposed conv k16 s8 p4, no bias (FCN's 8× upsampling): 8×21×16×16 → 8×21×128×128
  W3  transposed conv k4 s2 p1, no bias: 8×64×32×32 → 8×64×64×64
  W4  one SGD step (forward, loss, backward, update) of fcn16s-tiny on 8×3×128×128,
      21 classes, with a per-layer breakdown of forward and backward time
  GEMM  float32 matrix product C = A·B, 1024×1024×1024 (the convolutions' GEMM), beside
      the machine's FMA roof: a loop of independent vector FMAs on --threads threads

W1–W3 run forward alone (fwd) and forward + backward with input and weight gradients
(fwdbwd); W2 also with frozen bilinear weights (fwdbwd_frozen, no weight gradient).
GFLOP/s counts 2 FLOPs per multiply-accumulate of the forward, three times that for
fwdbwd, twice for fwdbwd_frozen, and three times the model's forward for the W4 step.
--precision bf16 runs every conv and deconv product on bf16 operands with fp32
accumulation (train.precision: bf16; needs AVX512_BF16).

Every row also gives the workload's peak resident set (VmHWM, Linux; reset before each
workload, so it includes what the process already held).
Compare with scripts/torch_bench.py run right before or after, with the same --threads.

flags:
`

// benchResult is one row of fcn bench --json.
type benchResult struct {
	ID            string   `json:"id"`
	Pass          string   `json:"pass"`
	MedianMS      float64  `json:"median_ms"`
	GFLOPS        float64  `json:"gflops"`
	AllocsPerStep *float64 `json:"allocs_per_step,omitempty"`
	// PeakRSSBytes is the peak resident set while the workload ran (absent where the
	// peak cannot be reset and read).
	PeakRSSBytes *int64 `json:"peak_rss_bytes,omitempty"`
	// FMARoofGFLOPS (GEMM only) is the FMA roof measured on the same threads, RoofISA
	// its instruction set.
	FMARoofGFLOPS *float64     `json:"fma_roof_gflops,omitempty"`
	RoofISA       string       `json:"fma_roof_isa,omitempty"`
	Threads       int          `json:"threads"`
	Kernel        string       `json:"kernel"`
	Precision     string       `json:"precision"`
	Layers        []benchLayer `json:"layers,omitempty"`
	// BreakdownStepMS is the median step of the run that timed the layers (the timers'
	// own cost included), against which their times add up.
	BreakdownStepMS float64 `json:"breakdown_step_ms,omitempty"`
}

// benchLayer is one node of the W4 breakdown: median milliseconds per step.
type benchLayer struct {
	Name  string  `json:"name"`
	Type  string  `json:"type"`
	FwdMS float64 `json:"fwd_ms"`
	BwdMS float64 `json:"bwd_ms"`
}

type benchOpts struct {
	iters, warmup, batch int
	precision            layers.Precision
}

// runBench is `fcn bench`.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("fcn bench", benchUsage, stderr)
	threads := fs.Int("threads", runtime.GOMAXPROCS(0), "threads (GOMAXPROCS)")
	iters := fs.Int("iters", 10, "timed iterations per workload (the median is reported)")
	warmup := fs.Int("warmup", 2, "untimed iterations before timing")
	only := fs.String("only", "W1,W2,W3,W4,GEMM", "comma-separated workloads to run")
	batch := fs.Int("batch", 8, "images per batch (the workloads are defined for 8; smaller is for quick checks)")
	precision := fs.String("precision", "fp32", "conv/deconv product precision: fp32, or bf16 (bf16 operands, fp32 accumulation; needs AVX512_BF16)")
	asJSON := fs.Bool("json", false, "print a JSON array of results instead of tables")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file (go tool pprof)")
	maxMem := addMaxMemoryFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	limit, err := maxMemory(*maxMem)
	if err != nil {
		return err
	}
	switch {
	case *threads < 1:
		return fmt.Errorf("--threads must be ≥ 1, got %d", *threads)
	case *iters < 1:
		return fmt.Errorf("--iters must be ≥ 1, got %d", *iters)
	case *warmup < 0:
		return fmt.Errorf("--warmup must be ≥ 0, got %d", *warmup)
	case *batch < 1:
		return fmt.Errorf("--batch must be ≥ 1, got %d", *batch)
	}
	prec, err := layers.ParsePrecision(*precision)
	if err == nil {
		err = prec.Supported()
	}
	if err != nil {
		return fmt.Errorf("--precision: %w", err)
	}
	want := map[string]bool{}
	for _, id := range strings.Split(*only, ",") {
		id = strings.ToUpper(strings.TrimSpace(id))
		if !slices.Contains([]string{"W1", "W2", "W3", "W4", "GEMM"}, id) {
			return fmt.Errorf("--only: unknown workload %q (want W1, W2, W3, W4 or GEMM)", id)
		}
		want[id] = true
	}
	if err := checkBenchMemory(*batch, want, limit); err != nil {
		return err
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(*threads))
	if *cpuProfile != "" {
		// Into a temporary file renamed at the end, so an interrupted bench leaves no
		// truncated profile under the name given.
		f, err := os.CreateTemp(filepath.Dir(*cpuProfile), ".tmp-"+filepath.Base(*cpuProfile)+"-")
		if err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			os.Remove(f.Name())
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer func() {
			pprof.StopCPUProfile()
			if err := f.Close(); err != nil || os.Rename(f.Name(), *cpuProfile) != nil {
				os.Remove(f.Name())
				fmt.Fprintf(stderr, "--cpuprofile: could not write %s\n", *cpuProfile)
			}
		}()
	}
	o := benchOpts{iters: *iters, warmup: *warmup, batch: *batch, precision: prec}

	var results []benchResult
	for _, w := range benchLayerWorkloads(o.batch) {
		if !want[w.id] {
			continue
		}
		for _, pass := range w.passes {
			r, err := withPeakRSS(func() (benchResult, error) { return benchLayerPass(ctx, w, pass, o) })
			if err != nil {
				return fmt.Errorf("%s %s: %w", w.id, pass, err)
			}
			results = append(results, r)
		}
	}
	if want["W4"] {
		r, err := withPeakRSS(func() (benchResult, error) { return benchStep(ctx, o) })
		if err != nil {
			return fmt.Errorf("W4: %w", err)
		}
		results = append(results, r)
	}
	if want["GEMM"] {
		r, err := withPeakRSS(func() (benchResult, error) { return benchGEMM(ctx, o, *threads) })
		if err != nil {
			return fmt.Errorf("GEMM: %w", err)
		}
		results = append(results, r)
	}
	for i := range results {
		results[i].Threads, results[i].Kernel, results[i].Precision = *threads, layers.GEMMKernel(), string(prec)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", " ")
		return enc.Encode(results)
	}
	return writeBenchTables(stdout, results, *threads, o)
}

// benchWorkload is one of W1–W3: a single layer on one input shape.
type benchWorkload struct {
	id     string
	in     tensor.Shape
	passes []string
	build  func(pass string) (layers.Layer, error)
}

func benchLayerWorkloads(n int) []benchWorkload {
	f := false
	return []benchWorkload{
		{"W1", tensor.Shape{n, 64, 64, 64}, []string{"fwd", "fwdbwd"}, func(string) (layers.Layer, error) {
			return layers.NewConv("W1", layers.ConvConfig{Out: 64, Kernel: []int{3}, Pad: []int{1}})
		}},
		{"W2", tensor.Shape{n, 21, 16, 16}, []string{"fwd", "fwdbwd", "fwdbwd_frozen"}, func(pass string) (layers.Layer, error) {
			cfg := layers.DeconvConfig{ConvConfig: layers.ConvConfig{Out: 21, Kernel: []int{16}, Stride: []int{8}, Pad: []int{4}, Bias: &f}, Mode: "learned"}
			if pass == "fwdbwd_frozen" {
				cfg.Mode = "frozen"
			}
			return layers.NewDeconv("W2", cfg)
		}},
		{"W3", tensor.Shape{n, 64, 32, 32}, []string{"fwd", "fwdbwd"}, func(string) (layers.Layer, error) {
			return layers.NewDeconv("W3", layers.DeconvConfig{ConvConfig: layers.ConvConfig{Out: 64, Kernel: []int{4}, Stride: []int{2}, Pad: []int{1}, Bias: &f, Init: "he"}})
		}},
	}
}

// benchLayerPass times one pass of a layer workload.
func benchLayerPass(ctx context.Context, w benchWorkload, pass string, o benchOpts) (benchResult, error) {
	l, err := w.build(pass)
	if err != nil {
		return benchResult{}, err
	}
	if ps, ok := l.(layers.PrecisionSetter); ok {
		if err := ps.SetPrecision(o.precision); err != nil {
			return benchResult{}, err
		}
	}
	out, err := l.Setup([]tensor.Shape{w.in}, tensor.Float32)
	if err != nil {
		return benchResult{}, err
	}
	rng := rand.New(rand.NewPCG(1, 2))
	if in, ok := l.(layers.Initializer); ok {
		in.Init(rng)
	}
	x := benchRandom(rng, w.in)
	y := tensor.New(tensor.WithShape(out.Clone()...), tensor.Of(tensor.Float32))
	dy := benchRandom(rng, out)
	dx := tensor.New(tensor.WithShape(w.in.Clone()...), tensor.Of(tensor.Float32))
	xs, dxs := []*tensor.Dense{x}, []*tensor.Dense{dx}
	var grads [][]float32
	for _, p := range l.Params() {
		grads = append(grads, p.Grad.Data().([]float32))
	}
	dxv := dx.Data().([]float32)
	backward := pass != "fwd"
	run := func() {
		l.Forward(xs, y)
		if backward {
			clear(dxv)
			for _, g := range grads {
				clear(g)
			}
			l.Backward(xs, y, dy, dxs)
		}
	}
	ms, err := benchMedian(ctx, run, o)
	if err != nil {
		return benchResult{}, err
	}
	passes := map[string]float64{"fwd": 1, "fwdbwd": 3, "fwdbwd_frozen": 2}[pass]
	flops := 2 * float64(l.(layers.MACCounter).MACs()) * passes
	return benchResult{ID: w.id, Pass: pass, MedianMS: ms, GFLOPS: flops / ms / 1e6}, nil
}

// benchMedian runs fn warmup times, then iters timed times, and returns the median in
// milliseconds.
func benchMedian(ctx context.Context, fn func(), o benchOpts) (float64, error) {
	for range o.warmup {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		fn()
	}
	times := make([]float64, o.iters)
	for i := range times {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		t0 := time.Now()
		fn()
		times[i] = float64(time.Since(t0).Nanoseconds()) / 1e6
	}
	return median(times), nil
}

// benchCounted runs fn o.warmup times, then times it (benchMedian over o.iters runs)
// and counts its heap allocations per run; the first error fn returns ends it.
func benchCounted(ctx context.Context, fn func() error, o benchOpts) (ms, allocsPerRun float64, err error) {
	var fnErr error
	run := func() {
		if err := fn(); err != nil && fnErr == nil {
			fnErr = err
		}
	}
	for range o.warmup {
		run()
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	ms, err = benchMedian(ctx, run, benchOpts{iters: o.iters})
	runtime.ReadMemStats(&after)
	if err == nil {
		err = fnErr
	}
	return ms, float64(after.Mallocs-before.Mallocs) / float64(o.iters), err
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}

func benchRandom(rng *rand.Rand, s tensor.Shape) *tensor.Dense {
	v := make([]float32, s.TotalSize())
	for i := range v {
		v[i] = float32(2*rng.Float64() - 1)
	}
	return tensor.New(tensor.WithShape(s.Clone()...), tensor.WithBacking(v))
}

// benchStepper is W4: fcn16s-tiny with its SGD solver and one batch.
type benchStepper struct {
	g       *autodiff.Graph
	sgd     *train.SGD
	lr      float64
	x, lbl  *tensor.Dense
	macs    int64
	classes int
}

// newBenchStepper builds fcn16s-tiny (the shipped experiment) for n images of h×w,
// initialised from seed, with a batch of uniform random images and labels uniform in
// [0, classes) of which about 5% are the ignore label.
func newBenchStepper(n, h, w int, seed uint64, prec layers.Precision) (*benchStepper, error) {
	exp, err := configs.LoadModel("fcn16s-tiny", nil, nil)
	if err != nil {
		return nil, err
	}
	exp.Train.Precision = string(prec)
	g, err := train.BuildModel(exp, n, h, w, tensor.Float32)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(seed, 0x6265_6e63_68))
	g.Init(rng)
	g.SetTraining(true)
	var ps []train.NamedParam
	for _, p := range g.Params() {
		ps = append(ps, train.NamedParam{Name: p.Name, Param: p.Param})
	}
	sgd, err := train.NewSGD(train.SGDConfigFor(exp.Optim), ps)
	if err != nil {
		return nil, err
	}
	s := &benchStepper{g: g, sgd: sgd, lr: exp.Optim.LR, classes: exp.Model.Classes}
	s.x = benchRandom(rng, tensor.Shape{n, 3, h, w})
	lv := make([]int32, n*h*w)
	for i := range lv {
		lv[i] = int32(rng.IntN(s.classes))
		if rng.Float64() < 0.05 {
			lv[i] = int32(exp.Loss.IgnoreLabel)
		}
	}
	s.lbl = tensor.New(tensor.WithShape(n, h, w), tensor.WithBacking(lv))
	s.macs = g.Summary().TotalMACs
	return s, nil
}

// step is one SGD step: forward, loss, backward, update.
func (s *benchStepper) step(ctx context.Context) error {
	s.g.ZeroGrad() // as the trainer does
	if err := s.g.Forward(ctx, s.x, s.lbl); err != nil {
		return err
	}
	if err := s.g.Backward(ctx); err != nil {
		return err
	}
	s.sgd.Step(s.lr)
	return nil
}

// benchStep times W4, counts its allocations, and then times each node on a copy of
// the graph whose layers are wrapped in timers (so the step itself runs untouched).
func benchStep(ctx context.Context, o benchOpts) (benchResult, error) {
	s, err := newBenchStepper(o.batch, 128, 128, 1, o.precision)
	if err != nil {
		return benchResult{}, err
	}
	ms, allocs, err := benchCounted(ctx, func() error { return s.step(ctx) }, o)
	if err != nil {
		return benchResult{}, err
	}
	r := benchResult{ID: "W4", Pass: "step", MedianMS: ms, GFLOPS: 3 * 2 * float64(s.macs) / ms / 1e6, AllocsPerStep: &allocs}
	if r.Layers, r.BreakdownStepMS, err = benchBreakdown(ctx, s, o); err != nil {
		return benchResult{}, fmt.Errorf("per-layer breakdown: %w", err)
	}
	return r, nil
}

// timedLayer wraps a layer to time its Forward and Backward. It passes the optional
// interfaces the graph uses on to the wrapped layer.
type timedLayer struct {
	layers.Layer
	fwd, bwd time.Duration
}

func (t *timedLayer) Forward(in []*tensor.Dense, out *tensor.Dense) {
	t0 := time.Now()
	t.Layer.Forward(in, out)
	t.fwd += time.Since(t0)
}

func (t *timedLayer) Backward(in []*tensor.Dense, out, dOut *tensor.Dense, dIn []*tensor.Dense) {
	t0 := time.Now()
	t.Layer.Backward(in, out, dOut, dIn)
	t.bwd += time.Since(t0)
}

func (t *timedLayer) SetTraining(on bool) {
	if ts, ok := t.Layer.(layers.TrainingSetter); ok {
		ts.SetTraining(on)
	}
}

func (t *timedLayer) SetSeed(seed uint64) {
	if st, ok := t.Layer.(layers.Stochastic); ok {
		st.SetSeed(seed)
	}
}

// CoordMap passes the wrapped layer's map on; layers without one are pass-through
// (scale 1, offset 0), as the graph would take them.
func (t *timedLayer) CoordMap() (scale, offset [2]float64) {
	if cm, ok := t.Layer.(layers.CoordMapper); ok {
		return cm.CoordMap()
	}
	return [2]float64{1, 1}, [2]float64{}
}

// SetAssignGrad passes gradient assignment on, so the timed graph does the work the
// step does; it declines for layers that cannot assign.
func (t *timedLayer) SetAssignGrad(i int, assign bool) bool {
	if ga, ok := t.Layer.(layers.GradAssigner); ok {
		return ga.SetAssignGrad(i, assign)
	}
	return false
}

// SetFusedReLU passes ReLU fusion on, so that the timed graph fuses as the step's
// does: a fused ReLU's time is in its convolution's row.
func (t *timedLayer) SetFusedReLU(on bool) bool {
	if f, ok := t.Layer.(layers.ReLUFuser); ok {
		return f.SetFusedReLU(on)
	}
	return false
}

func (t *timedLayer) MACs() int64 {
	if mc, ok := t.Layer.(layers.MACCounter); ok {
		return mc.MACs()
	}
	return 0
}

// benchBreakdown rebuilds s's graph from its own layers, each wrapped in a timedLayer
// (crop layers, whose offsets the graph sets, are left unwrapped and untimed), runs
// o.iters steps after the warm-up and returns each node's median forward and backward
// time per step, and the median step.
func benchBreakdown(ctx context.Context, s *benchStepper, o benchOpts) ([]benchLayer, float64, error) {
	sum := s.g.Summary()
	var nodes []autodiff.Node
	var timed []*timedLayer
	prev := ""
	for _, r := range sum.Rows {
		if r.Type == "input" {
			continue
		}
		l := s.g.Layer(r.Name)
		inputs := r.Inputs
		if len(inputs) == 0 && prev != "" {
			inputs = []string{prev}
		}
		prev = r.Name
		if _, isCrop := l.(*layers.Crop); !isCrop {
			t := &timedLayer{Layer: l}
			timed = append(timed, t)
			l = t
		} else {
			timed = append(timed, nil)
		}
		nodes = append(nodes, autodiff.Node{Name: r.Name, Layer: l, Inputs: inputs})
	}
	tg, err := autodiff.Build(s.g.Inputs(), nodes, tensor.Float32)
	if err != nil {
		return nil, 0, err
	}
	if err := tg.SetLossNode(s.g.LossNode()); err != nil {
		return nil, 0, err
	}
	tg.SetTraining(true)
	ts := &benchStepper{g: tg, sgd: s.sgd, lr: s.lr, x: s.x, lbl: s.lbl}
	for range o.warmup {
		if err := ts.step(ctx); err != nil {
			return nil, 0, err
		}
	}
	fwd := make([][]float64, len(timed))
	bwd := make([][]float64, len(timed))
	steps := make([]float64, 0, o.iters)
	for range o.iters {
		for _, t := range timed {
			if t != nil {
				t.fwd, t.bwd = 0, 0
			}
		}
		t0 := time.Now()
		if err := ts.step(ctx); err != nil {
			return nil, 0, err
		}
		steps = append(steps, float64(time.Since(t0).Nanoseconds())/1e6)
		for i, t := range timed {
			if t != nil {
				fwd[i] = append(fwd[i], float64(t.fwd.Nanoseconds())/1e6)
				bwd[i] = append(bwd[i], float64(t.bwd.Nanoseconds())/1e6)
			}
		}
	}
	var out []benchLayer
	for i, n := range nodes {
		bl := benchLayer{Name: n.Name, Type: sum.Rows[len(s.g.Inputs())+i].Type}
		if timed[i] != nil {
			bl.FwdMS, bl.BwdMS = median(fwd[i]), median(bwd[i])
		}
		out = append(out, bl)
	}
	return out, median(steps), nil
}

func writeBenchTables(w io.Writer, results []benchResult, threads int, o benchOpts) error {
	fmt.Fprintf(w, "fcn bench: %d thread(s), GEMM kernel %s, precision %s, batch %d, median of %d after %d warm-up\n\n",
		threads, layers.GEMMKernel(), o.precision, o.batch, o.iters, o.warmup)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "id\tpass\tmedian ms\tGFLOP/s\tallocs/step\tpeak RSS MiB\t")
	var step, gemmRow *benchResult
	for i, r := range results {
		allocs, rss := "", ""
		if r.AllocsPerStep != nil {
			allocs = fmt.Sprintf("%.2g", *r.AllocsPerStep)
			if r.ID == "W4" {
				step = &results[i]
			}
		}
		if r.PeakRSSBytes != nil {
			rss = fmt.Sprintf("%.0f", float64(*r.PeakRSSBytes)/(1<<20))
		}
		if r.FMARoofGFLOPS != nil {
			gemmRow = &results[i]
		}
		fmt.Fprintf(tw, "%s\t%s\t%.2f\t%.1f\t%s\t%s\t\n", r.ID, r.Pass, r.MedianMS, r.GFLOPS, allocs, rss)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if gemmRow != nil {
		roof := *gemmRow.FMARoofGFLOPS
		what := "fp32 FMA roof"
		if o.precision == layers.BF16 {
			// VDPBF16PS does two multiply-adds per fp32 lane: bf16's roof is twice fp32's.
			roof, what = 2*roof, "bf16 roof (twice the fp32 FMA roof)"
		}
		fmt.Fprintf(w, "\n%s (%s, %d thread(s)): %.1f GFLOP/s; GEMM 1024³ reaches %.0f%% of it\n",
			what, gemmRow.RoofISA, threads, roof, 100*gemmRow.GFLOPS/roof)
	}
	if step == nil || len(step.Layers) == 0 {
		return nil
	}
	fmt.Fprintf(w, "\nW4 per layer (median ms per step, from a second run with timed layers whose step median is %.2f ms):\n\n", step.BreakdownStepMS)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "layer\ttype\tforward\tbackward\tshare\t")
	var total float64
	for _, l := range step.Layers {
		total += l.FwdMS + l.BwdMS
	}
	for _, l := range step.Layers {
		share := 0.0
		if total > 0 {
			share = 100 * (l.FwdMS + l.BwdMS) / total
		}
		fmt.Fprintf(tw, "%s\t%s\t%.2f\t%.2f\t%.1f%%\t\n", l.Name, l.Type, l.FwdMS, l.BwdMS, share)
	}
	var f, b float64
	for _, l := range step.Layers {
		f, b = f+l.FwdMS, b+l.BwdMS
	}
	fmt.Fprintf(tw, "all layers\t\t%.2f\t%.2f\t\t\n", f, b)
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\n(the rest of that step, %.2f ms, is the optimiser and the graph's own work: zeroing gradients, the SGD update)\n", math.Max(0, step.BreakdownStepMS-f-b))
	return nil
}

// checkBenchMemory refuses a --batch whose workloads would not fit, before any is built:
// a layer workload holds its input, output, their gradients, a random input, the
// parameters with gradients and the layer's working memory; W4 is a training step.
func checkBenchMemory(batch int, want map[string]bool, limit int64) error {
	for _, w := range benchLayerWorkloads(batch) {
		if !want[w.id] {
			continue
		}
		for _, pass := range w.passes {
			l, err := w.build(pass)
			if err != nil {
				return err
			}
			fp, err := l.(layers.Footprinter).Footprint([]tensor.Shape{w.in})
			if err != nil {
				return fmt.Errorf("%s with --batch %d: %w", w.id, batch, err)
			}
			in, out := float64(w.in.TotalSize()), 1.0
			for _, d := range fp.Out {
				out *= float64(d)
			}
			need := 4*(3*in+2*out+2*float64(fp.Params)+float64(fp.Scratch)) + train.RuntimeOverhead
			if need > 1<<62 {
				need = 1 << 62
			}
			if err := train.CheckMemory(fmt.Sprintf("fcn bench %s %s with --batch %d", w.id, pass, batch), int64(need), limit, "", "lower --batch"); err != nil {
				return err
			}
		}
	}
	if want["W4"] {
		exp, err := configs.LoadModel("fcn16s-tiny", nil, nil)
		if err != nil {
			return err
		}
		e, err := train.EstimateTraining(exp, batch, 128, 128, 0)
		if err != nil {
			return fmt.Errorf("W4 with --batch %d: %w", batch, err)
		}
		return train.CheckMemory(fmt.Sprintf("fcn bench W4 with --batch %d", batch), e.Total, limit, e.Detail(), "lower --batch")
	}
	return nil
}

// withPeakRSS runs a workload with the peak resident set reset first (after returning
// the previous workloads' garbage to the system) and records the peak it reached.
func withPeakRSS(run func() (benchResult, error)) (benchResult, error) {
	runtime.GC()
	debug.FreeOSMemory()
	reset := resetPeakRSS()
	r, err := run()
	if err != nil {
		return r, err
	}
	if peak, ok := peakRSS(); ok && reset {
		r.PeakRSSBytes = &peak
	}
	return r, nil
}

// gemmSize is the GEMM workload's m = n = k.
const gemmSize = 1024

// benchGEMM times C = A·B at 1024³ on random A and B, counts its allocations, and
// measures the FMA roof on the same threads to set it against.
func benchGEMM(ctx context.Context, o benchOpts, threads int) (benchResult, error) {
	n := gemmSize
	rng := rand.New(rand.NewPCG(1, 3))
	a := benchRandom(rng, tensor.Shape{n, n}).Data().([]float32)
	b := benchRandom(rng, tensor.Shape{n, n}).Data().([]float32)
	c := make([]float32, n*n)
	ms, allocs, err := benchCounted(ctx, func() error { return layers.MatMulPrecision(o.precision, n, n, n, a, b, c) }, o)
	if err != nil {
		return benchResult{}, err
	}
	r := benchResult{ID: "GEMM", Pass: "1024³", MedianMS: ms, GFLOPS: 2 * float64(n) * float64(n) * float64(n) / ms / 1e6, AllocsPerStep: &allocs}
	roof, isa, err := fmaroof.Roof(threads, time.Second)
	if err == nil {
		r.FMARoofGFLOPS, r.RoofISA = &roof, isa
	} else if !errors.Is(err, fmaroof.ErrUnsupported) {
		return benchResult{}, fmt.Errorf("FMA roof: %w", err)
	}
	return r, nil
}
