package train

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/fcn-dev/fcn/autodiff"
	"github.com/fcn-dev/fcn/checkpoints"
	"github.com/fcn-dev/fcn/configs"
	fcndata "github.com/fcn-dev/fcn/data"
	"github.com/fcn-dev/fcn/layers"
	"gorgonia.org/tensor"
)

// ResumeLatest as Options.Resume resumes from the run folder's newest intact checkpoint.
const ResumeLatest = "latest"

// PCG streams of the run's generators, one per purpose, all seeded by train.seed, so
// that drawing more numbers for one purpose never shifts another's.
const (
	streamInit   = 0x6663_6e5f_696e_6974 // "fcn_init": parameter initialisation
	streamLoader = 0x6663_6e5f_6c6f_6164 // "fcn_load": the loader's seed (shuffles, transforms)
)

// Options configure Run.
type Options struct {
	// OutDir is the run folder (created if needed). A fresh run refuses a folder that
	// already holds checkpoints or metrics.
	OutDir string
	// Resume is "" for a fresh run, ResumeLatest for OutDir's newest intact checkpoint
	// (falling back past damaged ones, saying so), or the path of a checkpoint folder.
	Resume string
	// InitFrom names weights to start from (a safetensors file, a checkpoint or a run
	// folder, a PyTorch .pth: see loadInitWeights), loaded by name after the random initialisation: fine-tuning. Strict unless
	// InitPartial.
	InitFrom    string
	InitPartial bool
	// InitMap renames --init-from's tensors: a built-in map (initmap.Names) or a YAML
	// file of {from, to, reshape} items (--init-map).
	InitMap string
	// InitFormats are --init-from formats beyond safetensors, checkpoints and PyTorch's
	// (the command line adds Caffe's caffemodel: interop/caffe.WeightsFormat).
	InitFormats []InitFormat
	// Out receives progress, evaluation results and notices (nil: discarded).
	Out      io.Writer
	Progress ProgressMode
	// MaxMemory, when > 0, is the most the run may need (--max-memory); 0 means the
	// memory available now (see Available). The estimate is checked before allocating.
	MaxMemory int64
	// SkipDataCheck leaves the data to the loader instead of checking every image and
	// mask before step 1 (--skip-data-check, for sets too large to scan).
	SkipDataCheck bool
	// Comm makes the run one rank of a data-parallel job (see parallel.go); nil: one process.
	Comm Comm
}

// Result is what a run did.
type Result struct {
	RunDir      string
	Step        int  // updates done
	Interrupted bool // stopped early by the context; a checkpoint holds the state
	Checkpoint  string
	Model       string      // the final model.safetensors ("" when interrupted)
	Eval        *EvalResult // the last evaluation, if any

	// EarlyStopped is a run that train.early_stop ended before train.steps; it finished
	// as a complete run does (a checkpoint and the model).
	EarlyStopped bool
}

// trainer is one run in progress.
type trainer struct {
	exp    *configs.Experiment
	opts   Options
	out    io.Writer
	runDir string

	g      *autodiff.Graph
	opt    Optimizer
	sched  Schedule
	seed   uint64
	rngs   map[string]*rand.PCG
	loader *fcndata.Loader
	val    fcndata.Dataset

	pending *fcndata.Batch   // a batch drawn but not yet trained on
	pos     fcndata.Position // loader position after the last batch trained on
	epoch   int
	step    int // updates done

	early     *earlyStop // nil: train.early_stop is off
	lastLoss  float64
	lastEval  *EvalResult
	evalStep  int // step of lastEval, −1 if none
	savedStep int // step of the last checkpoint written by this session, −1 if none
	lastCkpt  string
	log       *metricsLog
	prog      *progress
	watch     *watch
	fit       *sizeFitter // the size the graph takes for each batch size
	bufCopy   [][]float32 // the buffers at the start of the step under way
	countCopy []int64     // and the batch counters
	par       *parallel
	grads     passGrads
}

// Run trains exp, writing the run folder opts.OutDir: config.yaml (the resolved
// experiment), metrics.jsonl, checkpoints/ and, at the end, model.safetensors.
//
// Every train.steps update is forward, loss, backward over iter_size batches (gradients
// accumulated, then scaled by 1/iter_size), and an SGD step at the schedule's rate. The
// model is evaluated on the eval split every eval.every steps and at the end, and
// checkpointed every checkpoint.every steps and at the end.
//
// Cancelling ctx is a request to stop: the current step is finished, a checkpoint is
// written and Run returns a Result with Interrupted set and no error. (An evaluation in
// progress is abandoned; a resume runs it again.) A loss that becomes NaN or infinite stops
// the run with an error naming the step. With train.early_stop, the evaluation that
// exhausts its patience ends the run there as a complete one: a checkpoint, the final
// model, Result.EarlyStopped and a line saying why.
//
// Determinism: the same experiment gives the same bits whatever train.workers and
// GOMAXPROCS, and a run resumed from any checkpoint ends with the same model as an
// uninterrupted one: initialisation, data order and augmentation, and dropout are drawn
// from generators derived from train.seed (the loader's by position, dropout's by step),
// and a checkpoint holds everything else (weights, momenta, loader position, generator
// states, schedule position).
func Run(ctx context.Context, exp *configs.Experiment, opts Options) (*Result, error) {
	if opts.OutDir == "" {
		return nil, errors.New("train: no run folder (Options.OutDir)")
	}
	if opts.Resume != "" && opts.InitFrom != "" {
		return nil, errors.New("train: --resume and --init-from exclude each other: a resumed run already has its weights")
	}
	t := &trainer{exp: exp, opts: opts, out: opts.Out, runDir: opts.OutDir, evalStep: -1, savedStep: -1, lastLoss: math.NaN(), early: newEarlyStop(exp)}
	if t.out == nil {
		t.out = io.Discard
	}
	var err error
	if t.par, err = newParallel(opts.Comm, exp); err != nil {
		return nil, err
	}
	if err := t.par.startCheck(exp, opts); err != nil {
		return nil, err
	}
	if !t.par.isRoot() {
		t.out = io.Discard
	}
	if err := t.setup(ctx); err != nil {
		if t.loader != nil {
			t.loader.Close()
		}
		return nil, err
	}
	defer t.loader.Close()
	defer t.log.Close()
	res, err := t.loop(ctx)
	if err == nil && t.par.sharded() {
		err = t.par.comm.Barrier() // rank 0 has written what res names
	}
	state := StateFinished
	if err != nil {
		state = StateFailed
	} else if res.Interrupted {
		state = StateInterrupted
	}
	if werr := t.watch.end(state, t.step, err); err == nil && werr != nil {
		return nil, werr
	}
	return res, err
}

// setup checks everything and prepares the run: datasets, loader, model, optimiser,
// initial or resumed state, run folder. Nothing is written before the experiment, the
// data and the model have been checked.
func (t *trainer) setup(ctx context.Context) error {
	exp := t.exp
	t.sched = ScheduleFor(exp)
	if err := t.sched.Validate(); err != nil {
		return err
	}
	if err := CheckPrecision(exp, layers.Precision.Supported); err != nil {
		return err
	}
	var ck *checkpoints.Checkpoint
	var notes []string
	if t.opts.Resume != "" {
		var err error
		ck, notes, err = loadResume(t.opts.Resume, t.runDir)
		if err != nil {
			return err
		}
		changed, err := checkResumable(ck, exp)
		if err != nil {
			return err
		}
		notes = append(notes, changed...)
		if ck.State.Step > exp.Train.Steps {
			return fmt.Errorf("cannot resume: %s is at step %d, past train.steps %d", ck.Dir, ck.State.Step, exp.Train.Steps)
		}
	}
	if !t.isResume() && t.par.isRoot() {
		if err := checkFreshRunDir(t.runDir); err != nil {
			return err
		}
	}

	train, err := fcndata.Open(exp.Data, exp.Data.TrainSplit)
	if err != nil {
		return err
	}
	if err := checkClasses(exp, train, exp.Data.TrainSplit); err != nil {
		return err
	}
	valSplit := SplitName(exp, exp.Eval.Split)
	if t.val, err = fcndata.Open(exp.Data, valSplit); err != nil {
		return err
	}
	if err := checkClasses(exp, t.val, valSplit); err != nil {
		return err
	}
	if exp.Train.BatchSize > train.Len() {
		return fmt.Errorf("train.batch_size %d exceeds the %d images of split %q", exp.Train.BatchSize, train.Len(), exp.Data.TrainSplit)
	}
	t.fit = newSizeFitter(exp)
	// Evaluation (every eval.every steps, and at the end) scores valSplit.
	splits := []splitUse{{exp.Data.TrainSplit, train, true, valSplit == exp.Data.TrainSplit}}
	if valSplit != exp.Data.TrainSplit {
		splits = append(splits, splitUse{valSplit, t.val, false, true})
	}
	dataNotes, err := preflight(ctx, exp, splits, t.fit, t.opts.SkipDataCheck, t.opts.MaxMemory, t.opts.Progress, t.out)
	if err != nil {
		return err
	}
	notes = append(notes, dataNotes...)

	// The memory the run will need, from shapes alone, before the loader or the model
	// allocates anything.
	h, w, err := TrainInputSize(exp, train)
	if err != nil {
		return err
	}
	if h, w, err = t.fit.fit(h, w); err != nil {
		return fmt.Errorf("%s: split %q: %w", exp.Source, exp.Data.TrainSplit, err)
	}
	est, err := EstimateTraining(exp, exp.Train.BatchSize, h, w, train.Len()+t.val.Len())
	if err != nil {
		return fmt.Errorf("%s: model (for %d×3×%d×%d batches): %w", exp.Source, exp.Train.BatchSize, h, w, err)
	}
	if err := CheckMemory(fmt.Sprintf("%s: training %s on %d×3×%d×%d batches of %d samples", exp.Source, exp.Name, exp.Train.BatchSize, h, w, train.Len()), est.Total, t.opts.MaxMemory, est.Detail(),
		"lower train.batch_size or the image size (data.transforms.crop), make that layer smaller, or use fewer samples"); err != nil {
		return err
	}

	t.seed = exp.Train.Seed
	t.rngs = map[string]*rand.PCG{"init": rand.NewPCG(t.seed, streamInit), "loader": rand.NewPCG(t.seed, streamLoader)}
	loaderSeed := t.rngs["loader"].Uint64()
	if ck != nil {
		t.step, t.epoch = ck.State.Step, ck.State.Epoch
		t.pos = fcndata.Position{Epoch: ck.State.Loader.Epoch, Index: ck.State.Loader.Index}
	}
	lopts := exp.Data.TrainLoaderOptions(exp.Train.BatchSize, exp.Train.Workers, loaderSeed, t.pos)
	if t.par.sharded() {
		lopts.Shard = t.par.trainShard
	}
	// The loader must not stop with ctx: the step under way when a stop is requested is
	// finished first. Close stops it.
	if t.loader, err = fcndata.NewLoader(context.WithoutCancel(ctx), train, lopts); err != nil {
		return err
	}
	if t.pending, err = t.loader.Next(); err != nil {
		return fmt.Errorf("loading the first training batch: %w", err)
	}
	b := t.pending
	bn, bh, bw, err := t.par.modelShape(b, train)
	if err != nil {
		return err
	}
	if bh, bw, err = t.fit.fit(bh, bw); err != nil {
		return fmt.Errorf("%s: the first training batch (%s …): %w", exp.Source, b.IDs[0], err)
	}
	if t.g, err = BuildModel(exp, bn, bh, bw, tensor.Float32); err != nil {
		return fmt.Errorf("%s: model (for %d×%d×%d×%d batches): %w", exp.Source, bn, b.C, bh, bw, err)
	}
	if t.opt, err = NewOptimizer(exp.Optim, sgdParams(t.g)); err != nil {
		return err
	}
	t.g.Init(rand.New(t.rngs["init"]))
	if ck != nil {
		if err := t.restore(ck); err != nil {
			return err
		}
	} else if t.opts.InitFrom != "" {
		if err := t.initFrom(); err != nil {
			return err
		}
	}
	t.g.SetTraining(true)
	if !t.par.isRoot() {
		return t.setupNonRoot(ck)
	}

	if err := os.MkdirAll(t.runDir, 0o755); err != nil {
		return fmt.Errorf("run folder: %w", err)
	}
	if err := exp.WriteYAML(filepath.Join(t.runDir, ConfigFile)); err != nil {
		return err
	}
	if ck != nil {
		if err := trimMetricsLog(t.runDir, t.step, t.evalStep == t.step); err != nil {
			return fmt.Errorf("resume: %w", err)
		}
		t.savedStep, t.lastCkpt = t.step, ck.Dir
	}
	if t.log, err = openMetricsLog(t.runDir); err != nil {
		return err
	}
	if err := t.startWatch(ck != nil); err != nil {
		return err
	}
	imgs := exp.Train.BatchSize * exp.Train.IterSize
	t.prog = newProgress(t.out, t.opts.Progress, t.step, exp.Train.Steps, imgs)
	for _, n := range notes {
		t.prog.message("%s", n)
	}
	if ck != nil {
		t.prog.message("resuming from %s (step %d of %d)", ck.Dir, t.step, exp.Train.Steps)
	} else {
		sum := t.g.Summary()
		t.prog.message("training %s: %d steps of %d×%d images (batch %d × iter_size %d), %s parameters (%s trainable, %s frozen); run folder %s",
			exp.Name, exp.Train.Steps, bh, bw, exp.Train.BatchSize, exp.Train.IterSize,
			groupDigits(sum.Params), groupDigits(sum.Trainable), groupDigits(sum.Params-sum.Trainable), t.runDir)
	}
	if t.par.sharded() {
		t.prog.message("%s", t.par.describe())
	}
	return nil
}

func (t *trainer) isResume() bool { return t.opts.Resume != "" }

// checkFreshRunDir refuses to start a new run over an existing one.
func checkFreshRunDir(dir string) error {
	for _, name := range []string{checkpoints.DirName, MetricsFile} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return fmt.Errorf("%s already holds a run (%s exists): resume it with --resume, or choose another --out", dir, name)
		}
	}
	return nil
}

// checkClasses makes sure the dataset's class list agrees with model.classes.
func checkClasses(exp *configs.Experiment, ds fcndata.Dataset, split string) error {
	if n := len(ds.ClassNames()); n != exp.Model.Classes {
		return fmt.Errorf("model.classes is %d but the data of split %q has %d classes (set data.classes or data.num_classes, or model.classes)", exp.Model.Classes, split, n)
	}
	return nil
}

// initFrom loads fine-tuning weights over the random initialisation and reports.
func (t *trainer) initFrom() error {
	return LoadInit(t.g, t.opts.InitFrom, t.opts.InitMap, t.opts.InitPartial, t.opts.InitFormats, t.out)
}

// loop trains until train.steps or until ctx asks to stop.
func (t *trainer) loop(ctx context.Context) (*Result, error) {
	exp := t.exp
	total := exp.Train.Steps
	res := &Result{RunDir: t.runDir}
	stepCtx := context.WithoutCancel(ctx)
	interrupted := false
	// A resumed run whose checkpoint was written before its evaluation finished
	// evaluates first, as the uninterrupted run did at that step.
	if t.step > 0 && t.evalDue(t.step) && t.evalStep != t.step {
		if err := t.evaluate(ctx); err != nil {
			if ctx.Err() == nil {
				return nil, err
			}
			interrupted = true
		}
		if t.early.stopped() {
			t.savedStep = -1 // that evaluation stops the run: save it as the uninterrupted run did
		}
	}
	for !interrupted && t.step < total && !t.early.stopped() {
		stop, err := t.par.stopRequested(ctx)
		if err != nil {
			return nil, err
		}
		if stop {
			interrupted = true
			break
		}
		start := time.Now()
		pos, epoch := t.pos, t.epoch
		t.saveBuffers()
		loss, lr, err := t.trainStep(stepCtx)
		if err != nil {
			// The step did not complete: its weights and momenta were not updated; the
			// running statistics its forward passes moved, and the loader position, go
			// back to where the step began.
			t.pos, t.epoch = pos, epoch
			t.restoreBuffers()
			return nil, t.failed(err)
		}
		t.step++
		t.lastLoss = loss
		if err := t.log.write(TrainLine{Step: t.step, Loss: loss, LR: lr}); err != nil {
			return nil, fmt.Errorf("writing %s: %w", MetricsFile, err)
		}
		t.prog.stepDone(t.step, loss, lr, time.Since(start))
		if err := t.watch.stepDone(t.step, loss, lr, t.prog); err != nil {
			return nil, err
		}
		if t.evalDue(t.step) {
			if err := t.evaluate(ctx); err != nil {
				if ctx.Err() == nil {
					return nil, t.failed(err)
				}
				interrupted = true
			}
		}
		if !interrupted && (t.step == total || t.early.stopped() || (exp.Checkpoint.Every > 0 && t.step%exp.Checkpoint.Every == 0)) {
			if err := t.checkpoint(); err != nil {
				return nil, err
			}
		}
	}
	res.Step, res.Eval = t.step, t.lastEval
	res.EarlyStopped = !interrupted && t.step < total && t.early.stopped()
	if interrupted || (t.step < total && !res.EarlyStopped) {
		t.prog.close()
		if t.savedStep != t.step {
			if err := t.checkpoint(); err != nil {
				return nil, err
			}
		}
		res.Interrupted, res.Checkpoint = true, t.lastCkpt
		return res, nil
	}
	if t.savedStep != t.step { // a resume of a finished run
		if err := t.checkpoint(); err != nil {
			return nil, err
		}
	}
	t.prog.close()
	if res.EarlyStopped {
		t.prog.message("%s", t.early.message(t.step))
	}
	res.Checkpoint = t.lastCkpt
	res.Model = filepath.Join(t.runDir, ModelFile)
	if !t.par.isRoot() {
		return res, nil
	}
	if err := WriteModel(t.g, res.Model); err != nil {
		return nil, err
	}
	return res, nil
}

// saveBuffers copies the model's buffers (batch norm's running statistics and batch
// counts), which a training forward changes, so that a step that fails part-way can be
// undone.
func (t *trainer) saveBuffers() {
	t.countCopy = t.countCopy[:0]
	for _, node := range t.g.Nodes() {
		if c, ok := t.g.Layer(node).(batchCounter); ok {
			t.countCopy = append(t.countCopy, c.BatchesTracked())
		}
	}
	i := 0
	for _, node := range t.g.Nodes() {
		b, ok := t.g.Layer(node).(bufferer)
		if !ok {
			continue
		}
		for _, name := range sortedKeys(b.Buffers()) {
			d := b.Buffers()[name].Data().([]float32)
			if i == len(t.bufCopy) {
				t.bufCopy = append(t.bufCopy, nil)
			}
			t.bufCopy[i] = append(t.bufCopy[i][:0], d...)
			i++
		}
	}
}

// restoreBuffers undoes what a failed step did to the buffers (see saveBuffers).
func (t *trainer) restoreBuffers() {
	k := 0
	for _, node := range t.g.Nodes() {
		if c, ok := t.g.Layer(node).(batchCounter); ok {
			c.SetBatchesTracked(t.countCopy[k])
			k++
		}
	}
	i := 0
	for _, node := range t.g.Nodes() {
		b, ok := t.g.Layer(node).(bufferer)
		if !ok {
			continue
		}
		for _, name := range sortedKeys(b.Buffers()) {
			copy(b.Buffers()[name].Data().([]float32), t.bufCopy[i])
			i++
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// RunError is a run that failed after completing steps: the state after the last
// completed step was checkpointed, so the run resumes from there once the cause is
// fixed (a bad image, too high a rate).
type RunError struct {
	Err        error
	Step       int    // steps completed
	Checkpoint string // the checkpoint holding the state after Step ("" if none could be written)
	RunDir     string
}

func (e *RunError) Error() string {
	if e.Checkpoint == "" {
		return e.Err.Error()
	}
	return fmt.Sprintf("%v\nthe state after step %d is saved in %s", e.Err, e.Step, e.Checkpoint)
}

func (e *RunError) Unwrap() error { return e.Err }

// failed checkpoints the state after the last completed step (if any step completed and
// it is not saved yet) and wraps err so that the command can say how to resume.
func (t *trainer) failed(err error) error {
	if t.step == 0 {
		return err
	}
	if t.savedStep != t.step {
		if cerr := t.checkpoint(); cerr != nil {
			return fmt.Errorf("%w (and the state after step %d could not be saved: %v)", err, t.step, cerr)
		}
	}
	return &RunError{Err: err, Step: t.step, Checkpoint: t.lastCkpt, RunDir: t.runDir}
}

// evalDue reports whether the model is evaluated after step: every eval.every steps and
// at the end.
func (t *trainer) evalDue(step int) bool {
	e := t.exp.Eval.Every
	return step == t.exp.Train.Steps || (e > 0 && step%e == 0)
}

// nextBatch returns the next training batch, the one drawn during setup first.
func (t *trainer) nextBatch() (*fcndata.Batch, error) {
	if b := t.pending; b != nil {
		t.pending = nil
		return b, nil
	}
	return t.loader.Next()
}

// trainStep does update t.step (0-based): iter_size forward/backward passes, then SGD.
// It returns the mean loss and the rate used.
func (t *trainer) trainStep(ctx context.Context) (loss, lr float64, err error) {
	if t.par.sharded() {
		return t.trainStepSharded(ctx)
	}
	iter := t.exp.Train.IterSize
	t.g.SetSeed(t.seed, uint64(t.step))
	t.g.ZeroGrad()
	var sum float64
	for k := range iter {
		b, err := t.nextBatch()
		if err != nil {
			return 0, 0, fmt.Errorf("step %d: loading a batch: %w", t.step+1, err)
		}
		x, y := batchTensors(b)
		ph, pw, err := t.fit.fit(b.H, b.W)
		if err != nil {
			return 0, 0, fmt.Errorf("step %d: images %s …: %w", t.step+1, b.IDs[0], err)
		}
		x, y = padBatch(x, y, ph, pw, t.exp.Data.IgnoreLabel) // padded pixels are ignored by the loss
		if err := t.g.Forward(ctx, x, y); err != nil {
			return 0, 0, fmt.Errorf("step %d: %w", t.step+1, err)
		}
		l := t.g.Loss()
		if math.IsNaN(l) || math.IsInf(l, 0) {
			return 0, 0, fmt.Errorf("step %d of %d: the loss is %v (batch %d of the step, images %s …): training diverged; lower optim.lr or check the data",
				t.step+1, t.exp.Train.Steps, l, k+1, b.IDs[0])
		}
		t.grads.before(t.g, k)
		if err := t.g.Backward(ctx); err != nil {
			return 0, 0, fmt.Errorf("step %d: %w", t.step+1, err)
		}
		t.grads.after(t.g, k)
		sum += l
		t.pos, t.epoch = b.Next, b.Epoch
	}
	t.opt.Scale(1 / float64(iter))
	lr = t.sched.LR(t.step)
	t.opt.Step(lr)
	return sum / float64(iter), lr, nil
}

// evaluate scores the model on the eval split and logs the result.
func (t *trainer) evaluate(ctx context.Context) error {
	split := SplitName(t.exp, t.exp.Eval.Split)
	start := time.Now()
	res, err := t.par.evaluate(ctx, t.g, t.exp, t.val, EvalBatchSize(t.exp), t.exp.Train.Workers)
	t.g.SetTraining(true)
	if err != nil {
		return err
	}
	res.Split = t.exp.Eval.Split
	t.lastEval, t.evalStep = &res, t.step
	t.early.observe(t.step, &res)
	line := EvalLine{Step: t.step, Split: res.Split, Metrics: res.Metrics, Loss: nullFloat(res.Loss)}
	if err := t.log.write(line); err != nil {
		return fmt.Errorf("writing %s: %w", MetricsFile, err)
	}
	m := res.Metrics
	t.prog.message("eval step %d (%s split %q, %d images, %s): miou %.4f  pixel_acc %.4f  mean_acc %.4f  fwiou %.4f  loss %.4f",
		t.step, res.Split, split, res.Images, time.Since(start).Round(time.Millisecond), m.MeanIoU, m.PixelAcc, m.MeanAcc, m.FWIoU, res.Loss)
	if t.watch == nil {
		return nil // not rank 0: the overlays are rank 0's to draw and write
	}
	// Four images: not stopped by a stop request, so that a logged evaluation always has
	// its overlays and every rank leaves evaluate the same way.
	overlays, err := predictOverlays(context.WithoutCancel(ctx), t.g, t.exp, t.watch.tf, t.fit, t.val)
	t.g.SetTraining(true)
	if err != nil {
		return fmt.Errorf("evaluation at step %d: %w", t.step, err)
	}
	return t.watch.evalDone(t.step, &res, overlays)
}

// checkpoint saves the state after t.step updates.
func (t *trainer) checkpoint() error {
	if !t.par.isRoot() {
		t.savedStep = t.step
		return nil
	}
	ck, err := t.snapshot()
	if err != nil {
		return err
	}
	metric := t.exp.Eval.Split + "_miou"
	path, err := checkpoints.Save(t.runDir, ck, checkpoints.Retention{Keep: t.exp.Checkpoint.Keep, BestMetric: metric})
	if err != nil {
		return err
	}
	t.savedStep, t.lastCkpt = t.step, path
	return nil
}

// snapshot gathers the checkpoint of the current state.
func (t *trainer) snapshot() (*checkpoints.Checkpoint, error) {
	model, err := ModelState(t.g)
	if err != nil {
		return nil, err
	}
	opt, err := optimizerTensors(t.opt.State(), ModelShapes(t.g))
	if err != nil {
		return nil, err
	}
	rng := map[string][]byte{}
	for name, p := range t.rngs {
		b, err := p.MarshalBinary()
		if err != nil {
			return nil, err
		}
		rng[name] = b
	}
	metrics := checkpoints.Metrics{}
	if !math.IsNaN(t.lastLoss) {
		metrics["train_loss"] = t.lastLoss
	}
	if e := t.lastEval; e != nil {
		p := e.Split + "_"
		metrics[p+"miou"] = e.Metrics.MeanIoU
		metrics[p+"pixel_acc"] = e.Metrics.PixelAcc
		metrics[p+"mean_acc"] = e.Metrics.MeanAcc
		metrics[p+"fwiou"] = e.Metrics.FWIoU
		metrics[evalStepKey] = float64(t.evalStep)
	}
	t.early.save(metrics)
	pos := t.pos
	lr := 0.0
	if t.step > 0 {
		lr = t.sched.LR(t.step - 1)
	}
	return &checkpoints.Checkpoint{
		Model: model, Optimizer: opt,
		State: checkpoints.State{
			Step: t.step, Epoch: t.epoch,
			Loader:           checkpoints.LoaderPosition{Epoch: pos.Epoch, Index: pos.Index},
			RNG:              rng,
			Schedule:         checkpoints.Schedule{Step: t.step, LR: lr},
			ExperimentDigest: configs.Digest(t.exp),
			Experiment:       flattenExperiment(t.exp),
			Metrics:          metrics,
		},
	}, nil
}

// evalStepKey records in a checkpoint's metrics the step its evaluation metrics are from.
const evalStepKey = "eval_step"

func isEOF(err error) bool { return errors.Is(err, io.EOF) }

// groupDigits writes n with thousands separators: 531,743.
func groupDigits(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if neg {
		s = "-" + s
	}
	return s
}
