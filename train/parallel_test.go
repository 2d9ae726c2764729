package train

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/fcn-dev/fcn/checkpoints"
	"github.com/fcn-dev/fcn/configs"
	fcndata "github.com/fcn-dev/fcn/data"
	"gorgonia.org/tensor"
)

// runRanks runs one Run per rank on LocalComms, every rank in the same run folder (a
// shared file system), the ranks' experiments and options given per rank. A rank whose
// Run fails aborts the job, as the fcn command does under MPI.
func runRanks(t *testing.T, ctxs []context.Context, exps []*configs.Experiment, opts []Options) ([]*Result, []error) {
	t.Helper()
	n := len(exps)
	comms := LocalComms(n)
	res, errs := make([]*Result, n), make([]error, n)
	var wg sync.WaitGroup
	for r := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := opts[r]
			o.Comm = comms[r]
			ctx := context.Background()
			if ctxs != nil {
				ctx = ctxs[r]
			}
			res[r], errs[r] = Run(ctx, exps[r], o)
			if errs[r] != nil {
				comms[r].Abort(1)
			}
		}()
	}
	wg.Wait()
	return res, errs
}

// runNP trains exp on n local ranks into dir and fails on any error.
func runNP(t *testing.T, n int, exp *configs.Experiment, dir string) []*Result {
	t.Helper()
	exps, opts := make([]*configs.Experiment, n), make([]Options, n)
	for r := range n {
		exps[r], opts[r] = exp, Options{OutDir: dir}
	}
	res, errs := runRanks(t, nil, exps, opts)
	for r, err := range errs {
		if err != nil {
			t.Fatalf("rank %d of %d: %v", r, n, err)
		}
	}
	return res
}

// readModel reads a model.safetensors as tensors by name.
func readModel(t *testing.T, path string) map[string][]float32 {
	t.Helper()
	f, err := checkpoints.ReadSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string][]float32{}
	for _, x := range f.Tensors {
		m[x.Name] = x.Data
	}
	return m
}

// maxRelDiff is the largest, over tensors, of max|a−b| / max|b| (the tensor's scale;
// elementwise ratios blow up at values that cross zero). Tensors of scale below 1e-3
// are numerical zeros (a convolution bias before batch norm has an analytically zero
// gradient, so it holds only rounding noise, ~1e-9): their largest absolute difference
// is returned apart, as tiny.
func maxRelDiff(t *testing.T, a, b map[string][]float32) (rel float64, at string, tiny float64) {
	t.Helper()
	for name, bv := range b {
		av, ok := a[name]
		if !ok || len(av) != len(bv) {
			t.Fatalf("tensor %s missing or of another size", name)
		}
		var diff, scale float64
		for i := range bv {
			diff = max(diff, math.Abs(float64(av[i])-float64(bv[i])))
			scale = max(scale, math.Abs(float64(bv[i])))
		}
		if scale < 1e-3 {
			tiny = max(tiny, diff)
			continue
		}
		if r := diff / scale; r > rel || at == "" {
			rel, at = r, name
		}
	}
	return rel, at, tiny
}

func TestShardPlan(t *testing.T) {
	cases := []struct {
		batch, iter, ranks      int
		share, chunk, passes    int
		rank0, rank1            [][2]int // each loader batch of a step: [lo, hi) kept
		sameAsBatch, sameAsIter int
	}{
		{16, 1, 2, 8, 8, 2, [][2]int{{0, 8}}, [][2]int{{8, 16}}, 8, 2},
		{8, 2, 2, 8, 8, 2, [][2]int{{0, 8}, {0, 0}}, [][2]int{{0, 0}, {0, 8}}, 8, 2},
		{1, 20, 2, 10, 1, 20, nil, nil, 1, 20},
		{4, 3, 2, 6, 2, 6, [][2]int{{0, 4}, {0, 2}, {0, 0}}, [][2]int{{0, 0}, {2, 4}, {0, 4}}, 2, 6},
		{16, 1, 1, 16, 16, 1, [][2]int{{0, 16}}, nil, 16, 1},
	}
	for _, c := range cases {
		exp := tinyExp(t, fmt.Sprintf("train.batch_size=%d", c.batch), fmt.Sprintf("train.iter_size=%d", c.iter))
		comms := LocalComms(c.ranks)
		for r, want := range [][][2]int{c.rank0, c.rank1} {
			if r >= c.ranks {
				break
			}
			p, err := newParallel(comms[r], exp)
			if err != nil {
				t.Fatal(err)
			}
			if p.share != c.share || p.chunk != c.chunk || p.passes != c.passes {
				t.Errorf("batch %d × iter %d over %d: share %d chunk %d passes %d, want %d %d %d", c.batch, c.iter, c.ranks, p.share, p.chunk, p.passes, c.share, c.chunk, c.passes)
			}
			for k, w := range want {
				// The second step's batches must be split as the first's.
				for _, kk := range []int{k, k + c.iter} {
					if lo, hi := p.trainShard(kk, c.batch); lo != w[0] || hi != w[1] {
						t.Errorf("batch %d × iter %d, rank %d of %d, loader batch %d: keeps [%d, %d), want %v", c.batch, c.iter, r, c.ranks, kk, lo, hi, w)
					}
				}
			}
		}
	}
	// A step that cannot be split is refused, naming the settings.
	_, err := newParallel(LocalComms(3)[0], tinyExp(t, "train.batch_size=4", "train.iter_size=2"))
	if err == nil || !strings.Contains(err.Error(), "cannot be split evenly over 3 ranks") || !strings.Contains(err.Error(), "train.iter_size") {
		t.Errorf("batch 4 × iter 2 over 3 ranks: err = %v", err)
	}
}

// TestEvalShardCoversSplit: every image is evaluated by exactly one rank, for batches
// larger and smaller than the rank count.
func TestEvalShardCoversSplit(t *testing.T) {
	for _, ranks := range []int{2, 3} {
		for _, n := range []int{1, 2, 5, 16} {
			seen := make([]int, n)
			for k := range 6 { // consecutive batches: batch 1 goes round robin
				for r := range ranks {
					p := &parallel{rank: r, size: ranks}
					lo, hi := p.evalShard(k, n)
					for i := lo; i < hi; i++ {
						seen[i]++
					}
				}
			}
			for i, s := range seen {
				if s != 6 {
					t.Errorf("%d ranks, batches of %d: image %d evaluated %d times in 6 batches, want 6", ranks, n, i, s)
				}
			}
		}
	}
}

// TestDataParallelMatchesOneProcess: np ranks with batch B × iter I give, within 1e-5
// relative, the final weights and running statistics of one process running the
// same passes (batch chunk × iter passes); the tiny net has batchnorm and dropout.
func TestDataParallelMatchesOneProcess(t *testing.T) {
	cases := []struct {
		np            int
		batch, iter   int
		batch1, iter1 int
		exact         bool // one pass a rank: the sums are those of one process, bit for bit
	}{
		{2, 4, 1, 2, 2, true}, // the np=2 batch 16 against batch 8 × 2, scaled down
		{2, 4, 2, 4, 2, true},
		{3, 3, 1, 1, 3, true},
		{3, 3, 2, 1, 6, false}, // two passes a rank: (g₁+g₂)+(g₃+g₄)+… against ((g₁+g₂)+g₃)+…
	}
	for _, c := range cases {
		name := fmt.Sprintf("np%d_b%dx%d", c.np, c.batch, c.iter)
		t.Run(name, func(t *testing.T) {
			dirN, dir1 := t.TempDir(), t.TempDir()
			sets := []string{fmt.Sprintf("train.batch_size=%d", c.batch), fmt.Sprintf("train.iter_size=%d", c.iter)}
			resN := runNP(t, c.np, tinyExp(t, sets...), dirN)
			run(t, context.Background(), tinyExp(t, fmt.Sprintf("train.batch_size=%d", c.batch1), fmt.Sprintf("train.iter_size=%d", c.iter1)), Options{OutDir: dir1})
			a, b := readModel(t, filepath.Join(dirN, ModelFile)), readModel(t, filepath.Join(dir1, ModelFile))
			rel, at, tiny := maxRelDiff(t, a, b)
			t.Logf("max relative difference %.3g (%s); numerically zero tensors differ by %.3g", rel, at, tiny)
			if c.exact && !bytes.Equal(readFile(t, filepath.Join(dirN, ModelFile)), readFile(t, filepath.Join(dir1, ModelFile))) {
				t.Errorf("np=%d batch %d × %d against np=1 batch %d × %d: not bit-identical", c.np, c.batch, c.iter, c.batch1, c.iter1)
			}
			if rel > 1e-5 || tiny > 1e-7 {
				t.Errorf("np=%d batch %d × %d against np=1 batch %d × %d: weights differ by %.3g relative (%s)", c.np, c.batch, c.iter, c.batch1, c.iter1, rel, at)
			}
			for r, res := range resN {
				if res.Eval == nil || res.Eval.Images != 8 {
					t.Fatalf("rank %d: evaluation %+v, want all 8 val images", r, res.Eval)
				}
				if !sameMetrics(res.Eval.Metrics, resN[0].Eval.Metrics) {
					t.Errorf("rank %d's evaluation differs from rank 0's", r)
				}
			}
		})
	}
}

// TestDataParallelDeterministic: two np=2 runs are bit-identical (model and log), and
// an np=2 run stopped after step 3 and resumed under np=2 ends bit-identical to the
// uninterrupted one; resumed under np=1 (re-sharded) it runs to the end.
func TestDataParallelDeterministic(t *testing.T) {
	exp := func() *configs.Experiment { return tinyExp(t, "train.batch_size=4", "train.iter_size=1") }
	ref := t.TempDir()
	runNP(t, 2, exp(), ref)
	refModel, refLog := readFile(t, filepath.Join(ref, ModelFile)), readFile(t, filepath.Join(ref, MetricsFile))
	again := t.TempDir()
	runNP(t, 2, exp(), again)
	if !bytes.Equal(refModel, readFile(t, filepath.Join(again, ModelFile))) || !bytes.Equal(refLog, readFile(t, filepath.Join(again, MetricsFile))) {
		t.Fatal("two np=2 runs differ")
	}

	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := &cancelAt{marker: "step 3/6", cancel: cancel}
	// Only rank 0 sees the stop request; the ranks must agree to stop together.
	res, errs := runRanks(t, []context.Context{ctx, context.Background()},
		[]*configs.Experiment{exp(), exp()}, []Options{{OutDir: dir, Out: w, Progress: ProgressPlain}, {OutDir: dir}})
	for r := range errs {
		if errs[r] != nil || !res[r].Interrupted || res[r].Step != 3 {
			t.Fatalf("rank %d: %+v, %v; want interrupted after step 3", r, res[r], errs[r])
		}
	}
	resumeDir := t.TempDir()
	copyTree(t, dir, resumeDir)
	exps, opts := []*configs.Experiment{exp(), exp()}, []Options{{OutDir: dir, Resume: ResumeLatest}, {OutDir: dir, Resume: ResumeLatest}}
	if _, errs := runRanks(t, nil, exps, opts); errs[0] != nil || errs[1] != nil {
		t.Fatal(errs)
	}
	if !bytes.Equal(refModel, readFile(t, filepath.Join(dir, ModelFile))) {
		t.Error("np=2 stopped after step 3 and resumed under np=2: final weights differ from the uninterrupted np=2 run")
	}
	if got := readFile(t, filepath.Join(dir, MetricsFile)); !bytes.Equal(refLog, got) {
		t.Errorf("np=2 resumed: metrics.jsonl differs:\n%s\nwant\n%s", got, refLog)
	}
	r1 := run(t, context.Background(), exp(), Options{OutDir: resumeDir, Resume: ResumeLatest})
	if r1.Step != 6 || r1.Interrupted {
		t.Errorf("np=2 checkpoint resumed under np=1: %+v", r1)
	}
}

// TestDataParallelRefusesMismatch: ranks with different experiments, or a step that
// does not split, are refused on every rank before anything is written.
func TestDataParallelRefusesMismatch(t *testing.T) {
	dir := t.TempDir()
	_, errs := runRanks(t, nil, []*configs.Experiment{tinyExp(t), tinyExp(t, "train.seed=8")}, []Options{{OutDir: dir}, {OutDir: dir}})
	for r, err := range errs {
		if err == nil || !strings.Contains(err.Error(), "rank(s) 1 resolved a different experiment") {
			t.Errorf("rank %d: err = %v", r, err)
		}
	}
	if _, err := checkpoints.Latest(dir); err == nil {
		t.Error("a refused run wrote a checkpoint")
	}
	_, errs = runRanks(t, nil, []*configs.Experiment{tinyExp(t, "train.iter_size=1", "train.batch_size=3"), tinyExp(t, "train.iter_size=1", "train.batch_size=3")}, []Options{{OutDir: dir}, {OutDir: dir}})
	for r, err := range errs {
		if err == nil || !strings.Contains(err.Error(), "cannot be split evenly over 2 ranks") {
			t.Errorf("batch 3 over 2 ranks, rank %d: err = %v", r, err)
		}
	}
	// Another executable on rank 1.
	comms := LocalComms(2)
	errs = make([]error, 2)
	var wg sync.WaitGroup
	for r := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[r] = checkPeers(comms[r], "same", fmt.Sprintf("build-%d", r))
		}()
	}
	wg.Wait()
	for r, err := range errs {
		if err == nil || !strings.Contains(err.Error(), "rank(s) 1 run a different fcn executable") || strings.Contains(err.Error(), "experiment") {
			t.Errorf("rank %d: err = %v", r, err)
		}
	}
}

// TestShardedEvaluateMatches: the sharded evaluation's confusion matrix, image count
// and (nearly) loss equal one process's on the same weights, for eval batches above and
// below the rank count.
func TestShardedEvaluateMatches(t *testing.T) {
	exp := tinyExp(t)
	ds, err := fcndata.Open(exp.Data, exp.Data.ValSplit)
	if err != nil {
		t.Fatal(err)
	}
	for _, bs := range []int{1, 3} {
		g1, err := BuildModel(exp, bs, 16, 16, tensor.Float32)
		if err != nil {
			t.Fatal(err)
		}
		g1.Init(rand.New(rand.NewPCG(5, 6)))
		want, err := Evaluate(context.Background(), g1, exp, ds, bs, 1)
		if err != nil {
			t.Fatal(err)
		}
		comms := LocalComms(2)
		got := make([]EvalResult, 2)
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for r := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				g, err := BuildModel(exp, bs, 16, 16, tensor.Float32)
				if err != nil {
					errs[r] = err
					return
				}
				g.Init(rand.New(rand.NewPCG(5, 6)))
				p, _ := newParallel(comms[r], exp)
				got[r], errs[r] = p.evaluate(context.Background(), g, exp, ds, bs, 1)
			}()
		}
		wg.Wait()
		for r := range 2 {
			if errs[r] != nil {
				t.Fatal(errs[r])
			}
			if got[r].Images != want.Images || !sameMetrics(got[r].Metrics, want.Metrics) || math.Abs(got[r].Loss-want.Loss) > 1e-6*math.Abs(want.Loss) {
				t.Errorf("eval batch %d, rank %d: %d images, %+v, loss %v; one process: %d, %+v, %v", bs, r, got[r].Images, got[r].Metrics, got[r].Loss, want.Images, want.Metrics, want.Loss)
			}
		}
	}
}

func sameMetrics(a, b Metrics) bool {
	return fmt.Sprint(a) == fmt.Sprint(b)
}

// copyTree copies the files of folder src into dst (a stopped run, to resume twice).
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(to, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(to, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}
