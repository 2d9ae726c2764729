package train

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"runtime/debug"
	"strings"
	"sync"

	"github.com/fcn-dev/fcn/autodiff"
	"github.com/fcn-dev/fcn/checkpoints"
	"github.com/fcn-dev/fcn/configs"
	fcndata "github.com/fcn-dev/fcn/data"
	"go.yaml.in/yaml/v3"
	"gorgonia.org/tensor"
)

// Comm is what data-parallel training needs of a communicator: MPI's COMM_WORLD
// (package mpi, build tag mpi) or LocalComms' in-process ranks. Every rank runs the same
// Run and so calls the same collectives in the same order; a collective fails (or, for
// MPI, the job ends) when a rank has gone.
type Comm interface {
	Rank() int
	Size() int
	// AllreduceSum32 and AllreduceSum64 replace buf, on every rank, with the element-wise
	// sum of every rank's buf (same length everywhere).
	AllreduceSum32(buf []float32) error
	AllreduceSum64(buf []float64) error
	// Allgather fills recv (Size()·len(send) bytes) with every rank's send, in rank order.
	Allgather(send, recv []byte) error
	// Bcast copies root's buf into every rank's buf (same length everywhere).
	Bcast(buf []byte, root int) error
	Barrier() error
	// Abort ends every rank of the job with code: what a rank that failed does, so that
	// the others do not wait for it in a collective.
	Abort(code int)
}

// parallel is how one rank takes part in data-parallel training. Each step's
// batch_size·iter_size images (the loader's order and augmentation, positions global)
// are split into Size contiguous shares, rank r taking share r; a rank forwards its
// share in chunks of `chunk` images, the largest count dividing both the share and
// batch_size, so every chunk lies within one loader batch. An np=N run therefore
// computes what one process with batch_size = chunk and iter_size = passes computes:
// np=2 with batch 16 is np=1 with batch 8 × iter_size 2.
type parallel struct {
	comm        Comm // nil for one process
	rank, size  int
	batch, iter int
	share       int // images a rank takes per step
	chunk       int // images per forward pass
	passes      int // forward passes per step over all ranks

	grads []float32 // flat gradient buffer, reused
}

// newParallel checks that the step's images split evenly over the ranks.
func newParallel(comm Comm, exp *configs.Experiment) (*parallel, error) {
	p := &parallel{comm: comm, size: 1, batch: exp.Train.BatchSize, iter: exp.Train.IterSize}
	if comm != nil {
		p.rank, p.size = comm.Rank(), comm.Size()
	}
	imgs := p.batch * p.iter
	if p.size < 1 || p.rank < 0 || p.rank >= p.size {
		return nil, fmt.Errorf("train: communicator has rank %d of %d ranks", p.rank, p.size)
	}
	if imgs%p.size != 0 {
		return nil, fmt.Errorf("%s: train.batch_size %d × train.iter_size %d = %d images a step cannot be split evenly over %d ranks: make batch_size × iter_size a multiple of %d (with batch_size 1, set train.iter_size to a multiple of %d)",
			exp.Source, p.batch, p.iter, imgs, p.size, p.size, p.size)
	}
	p.share = imgs / p.size
	p.chunk = gcd(p.batch, p.share)
	p.passes = imgs / p.chunk
	return p, nil
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// sharded reports whether there is more than one rank.
func (p *parallel) sharded() bool { return p.size > 1 }

// isRoot reports whether this rank writes the run folder, the log and the progress.
func (p *parallel) isRoot() bool { return p.rank == 0 }

// trainShard is the loader's Shard for training: batch k of a step (the loader starts
// at a step boundary) holds the step's images [b0, b0+n); this rank keeps its share's
// part of them.
func (p *parallel) trainShard(k, n int) (lo, hi int) {
	b0 := (k % p.iter) * p.batch
	s0, s1 := p.rank*p.share, (p.rank+1)*p.share
	lo, hi = max(s0, b0)-b0, min(s1, b0+n)-b0
	if hi <= lo {
		return 0, 0
	}
	return lo, hi
}

// evalShard is the loader's Shard for evaluation: a batch of at least Size images is
// split into contiguous parts; smaller batches (batch 1 for images of varied sizes) go
// whole to the ranks in turn.
func (p *parallel) evalShard(k, n int) (lo, hi int) {
	if n >= p.size {
		return n * p.rank / p.size, n * (p.rank + 1) / p.size
	}
	if k%p.size == p.rank {
		return 0, n
	}
	return 0, 0
}

// modelShape is the batch the model is built for: one chunk, of the first batch's image
// size (or, when this rank's part of it is empty, the first sample's).
func (p *parallel) modelShape(b *fcndata.Batch, ds fcndata.Dataset) (n, h, w int, err error) {
	if !p.sharded() {
		return b.N, b.H, b.W, nil
	}
	if b.N > 0 {
		return p.chunk, b.H, b.W, nil
	}
	s, err := ds.Sample(0)
	if err != nil {
		return 0, 0, 0, err
	}
	return p.chunk, s.H, s.W, nil
}

// startCheck makes every rank compare, before any work, the digest of its resolved
// experiment and run options and the identity of its executable with rank 0's, so that
// ranks started with different --config/--set or different builds are refused at once.
func (p *parallel) startCheck(exp *configs.Experiment, opts Options) error {
	if !p.sharded() {
		return nil
	}
	return checkPeers(p.comm, runDigest(exp, opts), BuildID())
}

// runDigest is a digest of what must agree over ranks: the whole resolved experiment
// and the options that decide the starting state.
func runDigest(exp *configs.Experiment, opts Options) string {
	b, err := yaml.Marshal(exp)
	if err != nil {
		b = []byte(err.Error())
	}
	h := sha256.New()
	h.Write(b)
	fmt.Fprintf(h, "\x00resume=%q init=%q map=%q partial=%v", opts.Resume, opts.InitFrom, opts.InitMap, opts.InitPartial)
	return fmt.Sprintf("%x", h.Sum(nil))
}

// BuildID identifies the running code: the sha256 of the executable, else the module's
// VCS revision. It is computed once (the executable does not change under a process).
func BuildID() string { return buildID() }

var buildID = sync.OnceValue(computeBuildID)

func computeBuildID() string {
	if exe, err := os.Executable(); err == nil {
		if f, err := os.Open(exe); err == nil {
			defer f.Close()
			h := sha256.New()
			if _, err := io.Copy(h, f); err == nil {
				return fmt.Sprintf("exe-%x", h.Sum(nil))
			}
		}
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		var rev, mod string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				mod = s.Value
			}
		}
		return fmt.Sprintf("vcs-%s-%s-%s", bi.Main.Version, rev, mod)
	}
	return "unknown"
}

// checkPeers allgathers (sha256 of digest, sha256 of build) and fails, on every rank
// alike, naming the ranks that differ from rank 0.
func checkPeers(comm Comm, digest, build string) error {
	const rec = 2 * sha256.Size
	send := make([]byte, 0, rec)
	d, b := sha256.Sum256([]byte(digest)), sha256.Sum256([]byte(build))
	send = append(append(send, d[:]...), b[:]...)
	n := comm.Size()
	recv := make([]byte, n*rec)
	if err := comm.Allgather(send, recv); err != nil {
		return fmt.Errorf("data-parallel start-up check: %w", err)
	}
	var cfg, code []string
	for r := 1; r < n; r++ {
		got, root := recv[r*rec:(r+1)*rec], recv[:rec]
		if string(got[:sha256.Size]) != string(root[:sha256.Size]) {
			cfg = append(cfg, fmt.Sprint(r))
		}
		if string(got[sha256.Size:]) != string(root[sha256.Size:]) {
			code = append(code, fmt.Sprint(r))
		}
	}
	var msgs []string
	if len(cfg) > 0 {
		msgs = append(msgs, fmt.Sprintf("rank(s) %s resolved a different experiment or run options than rank 0 (every rank must get the same --config, --set, environment variables the config reads, --resume and --init-from)", strings.Join(cfg, ", ")))
	}
	if len(code) > 0 {
		msgs = append(msgs, fmt.Sprintf("rank(s) %s run a different fcn executable than rank 0 (install the same build on every host)", strings.Join(code, ", ")))
	}
	if len(msgs) > 0 {
		return errors.New("data-parallel training refused: " + strings.Join(msgs, "; "))
	}
	return nil
}

// stopRequested reports whether the run should stop before the next step: ctx cancelled
// on this rank or, with several ranks, on any of them (a signal may reach the ranks at
// different steps; they must stop at the same one).
func (p *parallel) stopRequested(ctx context.Context) (bool, error) {
	stop := ctx.Err() != nil
	if !p.sharded() {
		return stop, nil
	}
	v := []float64{0}
	if stop {
		v[0] = 1
	}
	if err := p.comm.AllreduceSum64(v); err != nil {
		return false, fmt.Errorf("agreeing on a stop: %w", err)
	}
	return v[0] > 0, nil
}

// trainStepSharded is trainStep for several ranks: this rank's passes over its share,
// then the sums over ranks of the gradients (one flat float32 Allreduce) and the losses
// (float64), the batch-norm statistics replayed on rank 0 and broadcast, and the same
// SGD step on every rank.
func (t *trainer) trainStepSharded(ctx context.Context) (loss, lr float64, err error) {
	p := t.par
	t.g.SetSeed(t.seed, uint64(t.step))
	t.g.ZeroGrad()
	bn := newBNSync(t.g)
	first := true
	pass := 0 // this rank's passes so far
	var sum float64
	for k := range p.iter {
		b, err := t.nextBatch()
		if err != nil {
			return 0, 0, fmt.Errorf("step %d: loading a batch: %w", t.step+1, err)
		}
		for lo := 0; lo < b.N; lo += p.chunk {
			x, y := subBatchTensors(b, lo, lo+p.chunk)
			if first {
				// Dropout continues its streams over a step's passes: skip the masks of
				// the passes of lower ranks, at this pass's shape.
				if err := t.g.Reshape(x.Shape(), y.Shape()); err != nil {
					return 0, 0, fmt.Errorf("step %d: %w", t.step+1, err)
				}
				skipDropout(t.g, p.rank*p.share/p.chunk)
				first = false
			}
			if err := t.g.Forward(ctx, x, y); err != nil {
				return 0, 0, fmt.Errorf("step %d: %w", t.step+1, err)
			}
			l := t.g.Loss()
			if math.IsNaN(l) || math.IsInf(l, 0) {
				return 0, 0, fmt.Errorf("step %d of %d: the loss is %v on rank %d (batch %d of the step, images %s …): training diverged; lower optim.lr or check the data",
					t.step+1, t.exp.Train.Steps, l, p.rank, k+1, b.IDs[lo])
			}
			t.grads.before(t.g, pass)
			if err := t.g.Backward(ctx); err != nil {
				return 0, 0, fmt.Errorf("step %d: %w", t.step+1, err)
			}
			t.grads.after(t.g, pass)
			pass++
			bn.record()
			sum += l
		}
		t.pos, t.epoch = b.Next, b.Epoch
	}
	ls := []float64{sum}
	if err := p.comm.AllreduceSum64(ls); err != nil {
		return 0, 0, fmt.Errorf("step %d: summing the loss over ranks: %w", t.step+1, err)
	}
	if err := p.allreduceGrads(t.g); err != nil {
		return 0, 0, fmt.Errorf("step %d: summing the gradients over ranks: %w", t.step+1, err)
	}
	if err := bn.finish(p.comm); err != nil {
		return 0, 0, fmt.Errorf("step %d: batch-norm running statistics: %w", t.step+1, err)
	}
	t.opt.Scale(1 / float64(p.passes))
	lr = t.sched.LR(t.step)
	t.opt.Step(lr)
	return ls[0] / float64(p.passes), lr, nil
}

// subBatchTensors is batchTensors of images [lo, hi) of b.
func subBatchTensors(b *fcndata.Batch, lo, hi int) (x, y *tensor.Dense) {
	nx, ny := b.C*b.H*b.W, b.H*b.W
	xs := b.Images[lo*nx : hi*nx : hi*nx]
	ys := b.Labels[lo*ny : hi*ny : hi*ny]
	x = tensor.New(tensor.WithShape(hi-lo, b.C, b.H, b.W), tensor.WithBacking(xs))
	y = tensor.New(tensor.WithShape(hi-lo, b.H, b.W), tensor.WithBacking(ys))
	return x, y
}

// forwardSkipper is implemented by layers drawing random numbers per forward (dropout).
type forwardSkipper interface{ SkipForwards(n int) }

func skipDropout(g *autodiff.Graph, passes int) {
	if passes == 0 {
		return
	}
	for _, name := range g.Nodes() {
		if s, ok := g.Layer(name).(forwardSkipper); ok {
			s.SkipForwards(passes)
		}
	}
}

// allreduceGrads sums every parameter's gradient over the ranks: copied into one flat
// buffer in parameter order, one Allreduce, copied back.
func (p *parallel) allreduceGrads(g *autodiff.Graph) error {
	params := g.Params()
	n := 0
	for _, q := range params {
		n += q.Grad.Shape().TotalSize()
	}
	if cap(p.grads) < n {
		p.grads = make([]float32, n)
	}
	buf := p.grads[:n]
	off := 0
	for _, q := range params {
		d, ok := q.Grad.Data().([]float32)
		if !ok {
			return fmt.Errorf("gradient of %s is %v, not float32", q.Name, q.Grad.Dtype())
		}
		off += copy(buf[off:], d[:q.Grad.Shape().TotalSize()])
	}
	if err := p.comm.AllreduceSum32(buf); err != nil {
		return err
	}
	off = 0
	for _, q := range params {
		d := q.Grad.Data().([]float32)
		off += copy(d[:q.Grad.Shape().TotalSize()], buf[off:])
	}
	return nil
}

// batchStatser is a layer whose running statistics follow its batch statistics
// (layers.BatchNorm).
type batchStatser interface {
	bufferer
	batchCounter
	BatchStats() (mean, unbiasedVar []float64)
	UpdateRunning(mean, unbiasedVar []float64)
}

// bnSync makes the running statistics of a sharded step those one process would have:
// each rank records the batch statistics of its passes; rank 0 gathers them, restores
// the statistics of the step's start and applies every pass's update in global pass
// order (rank 0's passes, then rank 1's, …), then broadcasts its running statistics,
// which every rank takes. (DDP's broadcast_buffers also takes rank 0's buffers, but
// those saw only rank 0's batches.)
type bnSync struct {
	layers []batchStatser
	start  [][]float32 // per layer: running_mean then running_var at the step's start
	count  []int64     // per layer: batches tracked at the step's start
	rec    []byte      // this rank's passes' statistics, float64 little-endian
}

func newBNSync(g *autodiff.Graph) *bnSync {
	s := &bnSync{}
	for _, name := range g.Nodes() {
		if l, ok := g.Layer(name).(batchStatser); ok {
			s.layers = append(s.layers, l)
			s.start = append(s.start, bnBuffers(l, nil))
			s.count = append(s.count, l.BatchesTracked())
		}
	}
	return s
}

// bnBuffers appends the layer's running mean and variance to dst.
func bnBuffers(l batchStatser, dst []float32) []float32 {
	b := l.Buffers()
	dst = append(dst, b["running_mean"].Data().([]float32)...)
	return append(dst, b["running_var"].Data().([]float32)...)
}

// setBNBuffers copies src (as bnBuffers lays it out) into the layer and returns the rest.
func setBNBuffers(l batchStatser, src []float32) []float32 {
	b := l.Buffers()
	m, v := b["running_mean"].Data().([]float32), b["running_var"].Data().([]float32)
	src = src[copy(m, src):]
	return src[copy(v, src):]
}

// record saves the batch statistics of the pass just run.
func (s *bnSync) record() {
	for _, l := range s.layers {
		m, v := l.BatchStats()
		for _, x := range m {
			s.rec = binary.LittleEndian.AppendUint64(s.rec, math.Float64bits(x))
		}
		for _, x := range v {
			s.rec = binary.LittleEndian.AppendUint64(s.rec, math.Float64bits(x))
		}
	}
}

func (s *bnSync) finish(comm Comm) error {
	if len(s.layers) == 0 {
		return nil
	}
	all := make([]byte, comm.Size()*len(s.rec))
	if err := comm.Allgather(s.rec, all); err != nil {
		return err
	}
	// Every rank's count becomes the one process's: one per pass of the whole step.
	perPass := 0
	for _, l := range s.layers {
		m, _ := l.BatchStats()
		perPass += 16 * len(m)
	}
	if perPass > 0 {
		for i, l := range s.layers {
			l.SetBatchesTracked(s.count[i] + int64(len(all)/perPass))
		}
	}
	if comm.Rank() == 0 {
		for i, l := range s.layers {
			setBNBuffers(l, s.start[i])
		}
		vals := make([]float64, len(all)/8)
		for i := range vals {
			vals[i] = math.Float64frombits(binary.LittleEndian.Uint64(all[8*i:]))
		}
		for len(vals) > 0 { // pass by pass, rank by rank
			for _, l := range s.layers {
				m, _ := l.BatchStats()
				nc := len(m)
				l.UpdateRunning(vals[:nc], vals[nc:2*nc])
				vals = vals[2*nc:]
			}
		}
	}
	var flat []float32
	for _, l := range s.layers {
		flat = bnBuffers(l, flat)
	}
	bytes := make([]byte, 4*len(flat))
	for i, x := range flat {
		binary.LittleEndian.PutUint32(bytes[4*i:], math.Float32bits(x))
	}
	if err := comm.Bcast(bytes, 0); err != nil {
		return err
	}
	for i := range flat {
		flat[i] = math.Float32frombits(binary.LittleEndian.Uint32(bytes[4*i:]))
	}
	rest := flat
	for _, l := range s.layers {
		rest = setBNBuffers(l, rest)
	}
	return nil
}

// evaluate is Evaluate, sharded over the ranks. With several ranks it ignores ctx's
// cancellation: every rank must finish the evaluation's collectives (a stop is agreed
// on before the next step).
func (p *parallel) evaluate(ctx context.Context, g *autodiff.Graph, exp *configs.Experiment, ds fcndata.Dataset, batchSize, workers int) (EvalResult, error) {
	if p.sharded() {
		ctx = context.WithoutCancel(ctx)
	}
	return evaluateShard(ctx, g, exp, ds, batchSize, workers, p)
}

// reduceEval sums the confusion matrix, the loss sum and the counts over the ranks; the
// counts travel as float64, exact below 2⁵³.
func (p *parallel) reduceEval(conf *Confusion, lossSum *float64, lossN, images *int) error {
	buf := make([]float64, 0, len(conf.Hist)+5)
	for _, v := range conf.Hist {
		buf = append(buf, float64(v))
	}
	buf = append(buf, float64(conf.Ignored), float64(conf.Skipped), *lossSum, float64(*lossN), float64(*images))
	if err := p.comm.AllreduceSum64(buf); err != nil {
		return err
	}
	for i := range conf.Hist {
		conf.Hist[i] = int64(buf[i])
	}
	k := len(conf.Hist)
	conf.Ignored, conf.Skipped, *lossSum = int64(buf[k]), int64(buf[k+1]), buf[k+2]
	*lossN, *images = int(buf[k+3]), int(buf[k+4])
	return nil
}

// describe says how the run is split, for the log.
func (p *parallel) describe() string {
	return fmt.Sprintf("data-parallel over %d ranks: each step's %d images split %d a rank, forwarded %d at a time (%d passes a step in all, as one process with batch_size %d × iter_size %d)",
		p.size, p.batch*p.iter, p.share, p.chunk, p.passes, p.chunk, p.passes)
}

// setupNonRoot finishes setup on a rank other than 0, which writes nothing: its log and
// progress go nowhere.
func (t *trainer) setupNonRoot(ck *checkpoints.Checkpoint) error {
	f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	t.log = &metricsLog{f: f}
	if ck != nil {
		t.savedStep, t.lastCkpt = t.step, ck.Dir
	}
	t.prog = newProgress(io.Discard, ProgressOff, t.step, t.exp.Train.Steps, t.exp.Train.BatchSize*t.exp.Train.IterSize)
	return nil
}
