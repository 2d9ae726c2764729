package study

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fcn-dev/fcn/checkpoints"
	"github.com/fcn-dev/fcn/configs"
	"github.com/fcn-dev/fcn/layers"
	"github.com/fcn-dev/fcn/train"
	"gorgonia.org/tensor"
)

// tinyStudy is a study on the default model with tiny synthetic data: 32×32 images, 4
// steps of batch 4, evaluated every 2 steps.
const tinyStudy = `
name: tiny
base: default
sets: [data.synthetic.size=32, data.synthetic.n_train=16, data.synthetic.n_val=6, train.batch_size=4,
       eval.every=2, checkpoint.every=2, train.workers=1, optim.lr=0.05]
steps: 4
variants:
  - {name: learned, sets: [model.upsample=learned]}
  - {name: frozen, sets: [model.upsample=frozen]}
`

func mustParse(t *testing.T, text string) *Study {
	t.Helper()
	s, err := Parse("test.yaml", "test", "", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// countingTrainer wraps the trainer, counting the runs it trains; after is called when a
// run returns.
type countingTrainer struct {
	trained []string
	resumed []bool
	after   func(runDir string)
}

func (c *countingTrainer) train(ctx context.Context, exp *configs.Experiment, runDir string, resume bool, log io.Writer) error {
	c.trained = append(c.trained, filepath.Base(runDir))
	c.resumed = append(c.resumed, resume)
	err := Trainer(train.ProgressOff)(ctx, exp, runDir, resume, log)
	if c.after != nil {
		c.after(runDir)
	}
	return err
}

// TestStudyResumeFrozenLearned runs a two-variant study, stopping it after the first
// variant; the second call must train only the second variant and leave the first run's
// files untouched. Then: the frozen variant's deconv weights are bit-identical to the
// bilinear init, the learned ones have drifted, and the report's pictures are PNGs of
// the sizes their layouts give.
func TestStudyResumeFrozenLearned(t *testing.T) {
	s := mustParse(t, tinyStudy)
	out := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := &countingTrainer{after: func(string) { cancel() }}
	_, err := s.Run(ctx, Options{Out: out, Train: c.train})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("first call: err %v, want context.Canceled", err)
	}
	if fmt.Sprint(c.trained) != "[learned-seed1]" {
		t.Fatalf("first call trained %v, want [learned-seed1]", c.trained)
	}
	first := filepath.Join(out, "runs", "learned-seed1")
	markBefore, err := os.ReadFile(filepath.Join(first, DoneFile))
	if err != nil {
		t.Fatal(err)
	}
	modelBefore, err := os.Stat(filepath.Join(first, train.ModelFile))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(out, "runs", "frozen-seed1", DoneFile)); err == nil {
		t.Fatal("the second variant is marked done after an interrupted study")
	}

	c2 := &countingTrainer{}
	res, err := s.Run(context.Background(), Options{Out: out, Train: c2.train})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(c2.trained) != "[frozen-seed1]" || fmt.Sprint(res.Skipped) != "["+filepath.Join("runs", "learned-seed1")+"]" {
		t.Fatalf("second call trained %v and skipped %v, want [frozen-seed1] and the learned run", c2.trained, res.Skipped)
	}
	markAfter, _ := os.ReadFile(filepath.Join(first, DoneFile))
	modelAfter, err := os.Stat(filepath.Join(first, train.ModelFile))
	if err != nil || !bytes.Equal(markBefore, markAfter) || !modelAfter.ModTime().Equal(modelBefore.ModTime()) {
		t.Errorf("the finished run was touched: marker equal %v, model time %v → %v", bytes.Equal(markBefore, markAfter), modelBefore.ModTime(), modelAfter.ModTime())
	}

	// Frozen: every deconv weight bit-identical to the bilinear init.
	ts, _, err := checkpoints.LoadWeights(filepath.Join(out, "runs", "frozen-seed1", train.ModelFile))
	if err != nil {
		t.Fatal(err)
	}
	weights := checkpoints.ToMap(ts)
	frozenDeconvs := 0
	for _, l := range res.Plan.Runs[1].Exp.Model.Layers {
		if l.Type != "deconv" {
			continue
		}
		w := weights[l.Name+".weight"]
		c := l.Options.Channels("out").Count(res.Plan.Runs[1].Exp.Model.Classes)
		k := l.Options.Pair("kernel")
		ref := tensor.New(tensor.Of(tensor.Float32), tensor.WithShape(c, c, k[0], k[1]))
		if err := layers.FillBilinear(ref, 1); err != nil {
			t.Fatal(err)
		}
		want := ref.Data().([]float32)
		if len(w) != len(want) {
			t.Fatalf("%s: %d weights, want %d", l.Name, len(w), len(want))
		}
		for i := range w {
			if math.Float32bits(w[i]) != math.Float32bits(want[i]) {
				t.Fatalf("frozen %s: weight %d is %g, bilinear init %g", l.Name, i, w[i], want[i])
			}
		}
		frozenDeconvs++
	}
	if frozenDeconvs != 3 {
		t.Errorf("checked %d frozen deconvs, want the default model's 3", frozenDeconvs)
	}

	// The report: learned drift > 0, frozen drift 0; the learned weights did change.
	rep := res.Report
	for _, rr := range rep.Runs {
		for _, l := range rr.Layers {
			switch rr.Run.Variant {
			case "learned":
				if !(l.Drift > 0) || !l.Trainable {
					t.Errorf("learned %s: drift %g (trainable %v), want > 0", l.Name, l.Drift, l.Trainable)
				}
			case "frozen":
				if l.Drift != 0 || l.Trainable || l.Response > 1e-6 {
					t.Errorf("frozen %s: drift %g, trainable %v, response %g; want 0, false, 0", l.Name, l.Drift, l.Trainable, l.Response)
				}
			}
		}
	}
	checkPNGs(t, out, rep)
	md, err := os.ReadFile(filepath.Join(out, ReportMarkdown))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| learned |", "| frozen |", "## Per-class IoU", "Kernel drift", "![train loss](loss.png)"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	csv, err := os.ReadFile(filepath.Join(out, ReportCSV))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(csv)), "\n")
	if lines[0] != "variant,seed,step,loss,miou,pixel_acc,mean_acc,fwiou" || len(lines) != 1+2*4 {
		t.Errorf("metrics.csv: header %q and %d rows, want 8 (2 runs × 4 steps)", lines[0], len(lines)-1)
	}
	if !strings.HasPrefix(lines[2], "learned,1,2,") || strings.Count(lines[2], ",,") > 0 {
		t.Errorf("metrics.csv row of an evaluated step: %q, want every column filled", lines[2])
	}
}

// checkPNGs decodes every picture of the report and checks its size.
func checkPNGs(t *testing.T, out string, rep *Report) {
	t.Helper()
	if n := len(rep.predGrid.Rows); n != min(4, rep.SpectrumImages) {
		t.Errorf("prediction grid of %d images", n)
	}
	gw, gh := rep.predGrid.Size()
	rows, titles := rep.kernelRows()
	kw, kh := KernelGridSize(rows, len(titles))
	want := map[string][2]int{
		ReportLossPNG:    {reportLinePlotW, reportLinePlotH},
		ReportMIoUPNG:    {reportLinePlotW, reportLinePlotH},
		ReportPredsPNG:   {gw, gh},
		ReportKernelsPNG: {kw, kh},
	}
	for name, size := range want {
		f, err := os.Open(filepath.Join(out, name))
		if err != nil {
			t.Error(err)
			continue
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if b := img.Bounds(); b.Dx() != size[0] || b.Dy() != size[1] {
			t.Errorf("%s is %d×%d, want %d×%d", name, b.Dx(), b.Dy(), size[0], size[1])
		}
	}
}

func TestParseStudyErrors(t *testing.T) {
	cases := []struct {
		name, text string
		want       []string // every one must be in the error
	}{
		{"unknown key", "name: x\nbase: default\nseed: [1]\nvariants: [{name: a}]\n", []string{"test.yaml", "seed", `did you mean "seeds"`}},
		{"unknown variant key", "base: default\nvariants: [{name: a, set: [x=1]}]\n", []string{"variants[0] (a)", `"set"`, `did you mean "sets"`}},
		{"no base", "variants: [{name: a}]\n", []string{"base: is required"}},
		{"no variants", "base: default\n", []string{"variants", "at least one variant"}},
		{"variants not a list", "base: default\nvariants: 3\n", []string{"variants", "list of {name, sets}"}},
		{"variant without name", "base: default\nvariants: [{sets: [a=1]}]\n", []string{"variants[0]", "name is required"}},
		{"duplicate variant", "base: default\nvariants: [{name: a}, {name: a}]\n", []string{"variants[1] (a)", "used twice"}},
		{"bad variant name", "base: default\nvariants: [{name: a/b}]\n", []string{"a/b", "names a folder"}},
		{"variant sets data", "base: default\nvariants: [{name: a, sets: [data.root=/x]}]\n", []string{"variants[0] (a)", "may not set data.root"}},
		{"variant sets steps", "base: default\nvariants: [{name: a, sets: [train.steps=9]}]\n", []string{"may not set train.steps"}},
		{"set without =", "base: default\nsets: [train.steps]\nvariants: [{name: a}]\n", []string{"sets[0]", "key=value"}},
		{"sets not a list", "base: default\nsets: train.steps=3\nvariants: [{name: a}]\n", []string{"sets", "list of key=value"}},
		{"seeds wrong type", "base: default\nseeds: [1, x]\nvariants: [{name: a}]\n", []string{"seeds[1]", "integer"}},
		{"seed twice", "base: default\nseeds: [1, 1]\nvariants: [{name: a}]\n", []string{"seeds[1]", "twice"}},
		{"steps zero", "base: default\nsteps: 0\nvariants: [{name: a}]\n", []string{"steps", "> 0"}},
		{"not yaml", "base: [\n", []string{"test.yaml"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("test.yaml", "test", "", []byte(c.text))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// TestStudyPlan checks the order of overrides: study sets, steps, command line, variant,
// seed — a later one wins.
func TestStudyPlan(t *testing.T) {
	s := mustParse(t, `
base: default
sets: [optim.lr=0.5, optim.momentum=0.5, model.upsample=random]
steps: 7
seeds: [3, 4]
variants:
  - {name: a, sets: [model.upsample=frozen]}
  - {name: b}
`)
	p, err := s.Plan([]string{"optim.lr=0.25", "model.upsample=learned", "train.steps=9"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Runs) != 4 || fmt.Sprint(p.Variants()) != "[a b]" {
		t.Fatalf("runs %d, variants %v; want 4 runs of [a b]", len(p.Runs), p.Variants())
	}
	for i, want := range []struct {
		variant, dir, upsample string
		seed                   uint64
	}{
		{"a", "runs/a-seed3", "frozen", 3}, {"a", "runs/a-seed4", "frozen", 4},
		{"b", "runs/b-seed3", "learned", 3}, {"b", "runs/b-seed4", "learned", 4},
	} {
		r := p.Runs[i]
		e := r.Exp
		if r.Variant != want.variant || filepath.ToSlash(r.Dir) != want.dir || r.Seed != want.seed || e.Train.Seed != want.seed ||
			e.Model.Upsample != want.upsample || e.Model.Layer("upscore2").Options.String("mode") != want.upsample ||
			e.Optim.LR != 0.25 || e.Optim.Momentum != 0.5 || e.Train.Steps != 9 {
			t.Errorf("run %d: %s %s seed %d: upsample %q, lr %g, momentum %g, steps %d, seed %d", i, r.Variant, r.Dir, r.Seed,
				e.Model.Upsample, e.Optim.LR, e.Optim.Momentum, e.Train.Steps, e.Train.Seed)
		}
	}
	// Without seeds: the base's train.seed; without steps: the base's train.steps.
	s = mustParse(t, "base: default\nvariants: [{name: a}]\n")
	if p, err = s.Plan([]string{"train.seed=11"}, nil); err != nil {
		t.Fatal(err)
	}
	def, err := configs.Load("default", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(p.Seeds) != "[11]" || p.Runs[0].Exp.Train.Steps != def.Train.Steps {
		t.Errorf("seeds %v, steps %d; want [11] and the default's %d", p.Seeds, p.Runs[0].Exp.Train.Steps, def.Train.Steps)
	}
	// Bad overrides are reported before anything runs, naming the variant.
	s = mustParse(t, "base: default\nvariants: [{name: a}, {name: b, sets: [model.upsample=sideways]}]\n")
	if _, err = s.Plan(nil, nil); err == nil || !strings.Contains(err.Error(), "variant b") || !strings.Contains(err.Error(), "sideways") {
		t.Errorf("bad variant override: %v", err)
	}
	if _, err = s.Plan([]string{"optim.lrr=1"}, nil); err == nil || !strings.Contains(err.Error(), "optim.lrr") {
		t.Errorf("bad command-line override: %v", err)
	}
}

// TestLoadStudy: shipped studies by name (with or without the study- prefix) and files,
// with a base path relative to the study file.
func TestLoadStudy(t *testing.T) {
	for _, name := range []string{"study-upsampling", "upsampling"} {
		s, err := Load(name)
		if err != nil {
			t.Fatal(err)
		}
		if s.Name != "upsampling" || len(s.Variants) != 5 {
			t.Errorf("%s: name %q, %d variants", name, s.Name, len(s.Variants))
		}
		p, err := s.Plan(nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		var modes []string
		for _, r := range p.Runs {
			modes = append(modes, r.Exp.Model.Layer("upscore8").Options.String("mode"))
		}
		if fmt.Sprint(modes) != "[learned frozen random resize_conv bilinear]" {
			t.Errorf("%s: upscore8 modes %v", name, modes)
		}
	}
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "exps"), 0o755)
	exp, _ := configs.ReadShipped("default")
	os.WriteFile(filepath.Join(dir, "exps", "mine.yaml"), exp, 0o644)
	os.WriteFile(filepath.Join(dir, "study-mine.yaml"), []byte("base: exps/mine.yaml\nvariants: [{name: a}]\n"), 0o644)
	s, err := Load(filepath.Join(dir, "study-mine.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "mine" {
		t.Errorf("name %q, want mine (the file's name)", s.Name)
	}
	if _, err := s.Plan(nil, nil); err != nil {
		t.Errorf("base relative to the study file: %v", err)
	}
	if _, err := Load("no-such-study"); err == nil || !strings.Contains(err.Error(), "study-upsampling") {
		t.Errorf("unknown study: %v", err)
	}
}

// TestStudyRefusesChangedExperiment: a finished run trained with another experiment is
// not silently reused.
func TestStudyRefusesChangedExperiment(t *testing.T) {
	s := mustParse(t, tinyStudy)
	out := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fake := func(ctx context.Context, exp *configs.Experiment, runDir string, resume bool, log io.Writer) error {
		cancel() // one run, then stop
		return nil
	}
	if _, err := s.Run(ctx, Options{Out: out, Train: fake}); !errors.Is(err, context.Canceled) {
		t.Fatalf("first call: %v", err)
	}
	_, err := s.Run(context.Background(), Options{Out: out, Train: fake, Sets: []string{"optim.lr=0.125", "train.workers=2"}})
	if err == nil || !strings.Contains(err.Error(), "[optim.lr]") || !strings.Contains(err.Error(), "learned-seed1") {
		t.Errorf("changed experiment: %v", err)
	}
}

// TestStudyResumesInterruptedRun: a run stopped before it finished continues from its
// checkpoint (resume set), and is then marked done.
func TestStudyResumesInterruptedRun(t *testing.T) {
	s := mustParse(t, strings.Replace(tinyStudy, "  - {name: frozen, sets: [model.upsample=frozen]}\n", "", 1))
	out := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := &countingTrainer{}
	stopped := func(ctx context.Context, exp *configs.Experiment, runDir string, resume bool, log io.Writer) error {
		cancel() // stopped as it starts: the trainer writes a checkpoint and returns
		return c.train(ctx, exp, runDir, resume, log)
	}
	if _, err := s.Run(ctx, Options{Out: out, Train: stopped}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled study: %v", err)
	}
	c2 := &countingTrainer{}
	res, err := s.Run(context.Background(), Options{Out: out, Train: c2.train})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(c.trained, c2.trained, c2.resumed) != "[learned-seed1] [learned-seed1] [true]" {
		t.Errorf("trained %v then %v (resumed %v), want the run resumed the second time", c.trained, c2.trained, c2.resumed)
	}
	if len(res.Report.Runs) != 1 || res.Report.Runs[0].Final.Step != 4 {
		t.Errorf("report after resume: %+v", res.Report.Runs)
	}
}

// TestStudyReportSeeds: with several seeds the tables show mean ± sample std (n − 1):
// 0.4 and 0.6 give 0.5000 ± 0.1414, 100 s and 110 s give 105.0 ± 7.1 s.
func TestStudyReportSeeds(t *testing.T) {
	s := mustParse(t, "base: default\nseeds: [1, 2]\nvariants: [{name: a}]\n")
	p, err := s.Plan(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	rep := &Report{Plan: p, Classes: []string{"bg", "fg"}, SpectralStride: 8}
	for i, r := range p.Runs {
		v := 0.4 + 0.2*float64(i)
		rep.Runs = append(rep.Runs, &RunReport{
			Run:       r,
			Done:      &Done{TrainSeconds: 100 + 10*float64(i)},
			Train:     []train.TrainLine{{Step: 600, Loss: 1}},
			Final:     train.EvalLine{Step: 600, Split: "val", Metrics: train.Metrics{MeanIoU: v, PixelAcc: 0.9, MeanAcc: v, FWIoU: v, IoU: []float64{0.9, v}}},
			FinalLoss: 1,
			Params:    1234,
			Layers:    []LayerReport{{Name: "up", Drift: v, HasDeconvWeight: true, Response: 0}},
			Response:  0,
			Spectral:  0.01,
		})
	}
	md := rep.Markdown()
	for _, want := range []string{
		"| a | 0.5000 ± 0.1414 | 0.9000 ± 0.0000 | 0.5000 ± 0.1414 | 0.5000 ± 0.1414 | 1.0000 ± 0.0000 | 105.0 ± 7.1 s | 1234 ± 0 |",
		"| a | 0.9000 ± 0.0000 | 0.5000 ± 0.1414 |", // per-class IoU
		"mean ± sample standard deviation over the 2 seeds",
		"| up |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
}

// TestBilinearKernel: the report's reference kernel is the bilinear init's. By hand, the
// 1-D factors are (0.5, 0.5) for k = 2 (factor 1, centre 0.5) and (0.5, 1, 0.5) for k = 3
// (factor 2, centre 1), so the 2×3 kernel is their outer product.
func TestBilinearKernel(t *testing.T) {
	if got, want := bilinearKernel([2]int{2, 3}), []float64{0.25, 0.5, 0.25, 0.25, 0.5, 0.25}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("2×3: %v, want %v", got, want)
	}
	if got, want := bilinearKernel([2]int{4, 4}), layers.BilinearKernel(4); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("4×4: %v, want layers.BilinearKernel(4) %v", got, want)
	}
}
