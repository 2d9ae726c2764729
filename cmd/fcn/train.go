package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fcn-dev/fcn/checkpoints"
	"github.com/fcn-dev/fcn/configs"
	"github.com/fcn-dev/fcn/interop/caffe"
	"github.com/fcn-dev/fcn/interop/initmap"
	"github.com/fcn-dev/fcn/train"
)

const trainUsage = `usage: fcn train [--config NAME|FILE] [--set key=value]... [--out DIR]
                 [--resume [CHECKPOINT]] [--init-from PATH [--init-map NAME|FILE] [--init-from-partial]]
                 [--tensorboard] [--board [--board-addr 127.0.0.1:6006]]

Trains an experiment (default: the shipped "default", synthetic shapes) and writes the
run folder (default runs/<experiment>-<time>): config.yaml, metrics.jsonl, status.json,
evals/, checkpoints/, model.safetensors (and TensorBoard event files with --tensorboard).

  fcn train --out DIR --resume          continue DIR from its newest intact checkpoint
  fcn train --resume DIR/checkpoints/step-0000400   continue from that checkpoint
  Ctrl-C stops after the current step with a checkpoint; a second Ctrl-C aborts at once.

flags:
`

// resumeFlag is --resume with an optional value: alone it means the run folder's latest
// checkpoint; --resume=PATH or --resume PATH names a checkpoint folder.
type resumeFlag struct {
	set  bool
	path string
}

func (r *resumeFlag) String() string { return r.path }
func (r *resumeFlag) Set(v string) error {
	r.set = true
	if v != "true" {
		r.path = v
	}
	return nil
}
func (r *resumeFlag) IsBoolFlag() bool { return true }

// OptionalValue lets parseArgs give --resume the next argument (see optionalValue).
func (r *resumeFlag) OptionalValue() bool { return true }

// trainCommand is `fcn train`, as one rank of a data-parallel job when comm is not nil
// (see runTrain in train_mpi.go).
func trainCommand(ctx context.Context, args []string, stdout, stderr io.Writer, comm train.Comm) error {
	fs := newFlagSet("fcn train", trainUsage, stderr)
	config, sets := addExperimentFlags(fs, "experiment: a shipped name ("+strings.Join(configs.Names(), ", ")+") or a YAML file (default \"default\")")
	out := fs.String("out", "", "run folder (default runs/<experiment>-<time>)")
	var resume resumeFlag
	fs.Var(&resume, "resume", "resume --out's latest checkpoint, or the checkpoint folder given")
	initFrom := fs.String("init-from", "", "start from these weights (safetensors file, checkpoint or run folder, PyTorch .pth, Caffe .caffemodel), by name")
	initMap := fs.String("init-map", "", "with --init-from: rename its tensors by a built-in map ("+strings.Join(initmap.Names(), ", ")+") or a YAML file of {from, to, reshape}")
	partial := fs.Bool("init-from-partial", false, "with --init-from: allow missing, unexpected and mismatched tensors")
	progress := fs.String("progress", "auto", "progress display: auto (bar on a terminal, lines otherwise), bar, plain, off")
	tensorboard := fs.Bool("tensorboard", false, "also write TensorBoard event files into the run folder (log.tensorboard=true)")
	boardOpts := addBoardFlags(fs, "the run folder's parent")
	maxMem := addMaxMemoryFlag(fs)
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the run to this file (go tool pprof)")
	skipCheck := fs.Bool("skip-data-check", false, "do not check every image and mask before step 1 (for sets too large to scan); the loader still refuses a bad file when it reaches it")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *tensorboard {
		*sets = append(*sets, "log.tensorboard=true")
	}
	mode, err := progressMode(*progress)
	if err != nil {
		return err
	}
	if resume.set && *initFrom != "" {
		return errors.New("--resume and --init-from exclude each other: a resumed run already has its weights")
	}
	if *initMap != "" && *initFrom == "" {
		return errors.New("--init-map needs --init-from")
	}
	if *partial && *initFrom == "" {
		return errors.New("--init-from-partial needs --init-from")
	}

	limit, err := maxMemory(*maxMem)
	if err != nil {
		return err
	}
	opts := train.Options{MaxMemory: limit, OutDir: *out, InitFrom: *initFrom, InitPartial: *partial, InitMap: *initMap, InitFormats: []train.InitFormat{caffe.WeightsFormat()}, Out: stdout, Progress: mode, Comm: comm, SkipDataCheck: *skipCheck}
	var exp *configs.Experiment
	if resume.set {
		if exp, err = resumeExperiment(&opts, resume.path, *config, *sets); err != nil {
			return err
		}
	} else {
		if exp, err = configs.Load(*config, *sets, os.Environ()); err != nil {
			return err
		}
		if opts.OutDir == "" {
			opts.OutDir = filepath.Join("runs", exp.Name+"-"+time.Now().Format("20060102-150405"))
		}
	}
	if comm != nil && comm.Rank() != 0 {
		*boardOpts.on = false // one board, beside rank 0, which writes the run folder
	}
	stopProfile, err := startCPUProfile(*cpuProfile, stderr)
	if err != nil {
		return err
	}
	defer stopProfile()
	boardCtx, stopBoard := context.WithCancel(ctx)
	defer stopBoard()
	waitBoard, err := boardOpts.start(boardCtx, opts.OutDir, stdout)
	if err != nil {
		return err
	}
	err = trainAndReport(ctx, exp, opts, stdout)
	if err == nil {
		boardOpts.keepServing(ctx, stdout)
	}
	stopBoard()
	waitBoard()
	return err
}

// trainAndReport runs the training and prints how it ended.
func trainAndReport(ctx context.Context, exp *configs.Experiment, opts train.Options, stdout io.Writer) error {
	res, err := train.Run(ctx, exp, opts)
	var re *train.RunError
	if errors.As(err, &re) && re.Checkpoint != "" {
		exe, _ := os.Executable()
		return fmt.Errorf("%w\nonce the cause is fixed, resume with: %s train --out %s --resume", err, invocation(exe, os.Args[0]), shellQuote(re.RunDir))
	}
	if err != nil {
		return err
	}
	if res.Interrupted {
		exe, _ := os.Executable()
		fmt.Fprintf(stdout, "stopped after step %d of %d; checkpoint %s\nresume with: %s train --out %s --resume\n",
			res.Step, exp.Train.Steps, res.Checkpoint, invocation(exe, os.Args[0]), shellQuote(res.RunDir))
		return nil
	}
	if res.EarlyStopped {
		fmt.Fprintf(stdout, "done: stopped early at step %d of %d (train.early_stop)", res.Step, exp.Train.Steps)
	} else {
		fmt.Fprintf(stdout, "done: %d steps", res.Step)
	}
	if e := res.Eval; e != nil {
		fmt.Fprintf(stdout, "; %s miou %.4f, pixel_acc %.4f", e.Split, e.Metrics.MeanIoU, e.Metrics.PixelAcc)
	}
	fmt.Fprintf(stdout, "\nmodel: %s\nmetrics: %s\n", res.Model, filepath.Join(res.RunDir, train.MetricsFile))
	return nil
}

// resumeExperiment decides where a resume reads from and writes to, and which
// experiment it runs: --config when given, else the run folder's config.yaml; --set
// applies on top either way (e.g. --set train.steps=2000 to train longer).
func resumeExperiment(opts *train.Options, path, config string, sets []string) (*configs.Experiment, error) {
	isDir := func(p string) bool { fi, err := os.Stat(p); return err == nil && fi.IsDir() }
	isFile := func(p string) bool { fi, err := os.Stat(p); return err == nil && !fi.IsDir() }
	switch {
	case path == "":
		if opts.OutDir == "" {
			return nil, errors.New("--resume without a checkpoint needs --out DIR, the run folder to continue")
		}
		opts.Resume = train.ResumeLatest
	case isFile(filepath.Join(path, checkpoints.StateFile)): // a checkpoint folder
		opts.Resume = path
		if opts.OutDir == "" {
			if opts.OutDir = train.RunDirOf(path); opts.OutDir == "" {
				return nil, fmt.Errorf("--resume %s: the checkpoint is not inside a run folder (no %s above it); give --out", path, train.ConfigFile)
			}
		}
	case isDir(filepath.Join(path, checkpoints.DirName)): // a run folder
		if opts.OutDir == "" || filepath.Clean(opts.OutDir) == filepath.Clean(path) {
			opts.OutDir, opts.Resume = path, train.ResumeLatest
		} else {
			latest, err := checkpoints.Latest(path)
			if err != nil {
				return nil, fmt.Errorf("--resume %s: %w", path, err)
			}
			opts.Resume = latest
		}
	default:
		return nil, fmt.Errorf("--resume %s: neither a checkpoint folder (with %s) nor a run folder (with %s/)", path, checkpoints.StateFile, checkpoints.DirName)
	}
	if config == "" {
		src := opts.OutDir
		if opts.Resume != train.ResumeLatest {
			src = train.RunDirOf(opts.Resume)
		}
		if src == "" || !isFile(filepath.Join(src, train.ConfigFile)) {
			return nil, fmt.Errorf("--resume: no %s in %s to take the experiment from; give --config", train.ConfigFile, opts.OutDir)
		}
		config = filepath.Join(src, train.ConfigFile)
	}
	return configs.Load(config, sets, os.Environ())
}

func progressMode(s string) (train.ProgressMode, error) {
	switch s {
	case "auto":
		return train.ProgressAuto, nil
	case "bar":
		return train.ProgressBar, nil
	case "plain":
		return train.ProgressPlain, nil
	case "off":
		return train.ProgressOff, nil
	}
	return 0, fmt.Errorf("--progress: want auto, bar, plain or off, got %q", s)
}

// shellQuote quotes a path for a command line when it needs it.
func shellQuote(s string) string {
	if strings.ContainsAny(s, " \t'\"$\\`!*?[]{}()<>|&;#~") {
		return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
	}
	return s
}

// invocation is how to run fcn again the way it was started, for hints: `go run
// ./cmd/fcn` when it runs from go run's build cache, the path typed when there was one
// (./fcn), else fcn.
func invocation(exe, arg0 string) string {
	switch {
	case strings.Contains(filepath.ToSlash(exe), "/go-build"):
		return "go run ./cmd/fcn"
	case strings.ContainsRune(arg0, '/'):
		return shellQuote(arg0)
	}
	return "fcn"
}
