// Command fcn trains and studies fully convolutional networks for semantic segmentation.
//
//	fcn train [--config NAME|FILE] [--set key=value]... [--out DIR]
//
// Run `fcn help` for every subcommand.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// command is one subcommand: a run function, or subcommands of its own (fcn data synth).
// run gets the arguments after the subcommand's name and returns an error to print (no
// stack trace) and exit non-zero.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
	subs    map[string]command
}

// commands lists the subcommands; each lives in a file of its own.
func commands() map[string]command {
	return map[string]command{
		"data": {summary: "make the synthetic set (synth) or validate a dataset (check)", subs: map[string]command{
			"synth": {summary: "write the synthetic set in the PASCAL VOC layout", run: runDataSynth},
			"check": {summary: "validate a dataset: counts, image sizes, class pixel histogram, every problem", run: runDataCheck},
		}},
		"config": {summary: "the shipped experiments: list them, show one to copy and edit", subs: map[string]command{
			"list": {summary: "the shipped experiments and studies, with a line each", run: runConfigList},
			"show": {summary: "NAME [--resolved]: print a shipped experiment, comments included", run: runConfigShow},
		}},
		"gradcheck": {summary: "check every layer's gradients against finite differences (--json, --run)", run: runGradcheck},
		"compare":   {summary: "train variants of a study (e.g. upsampling modes) and report them side by side", run: runCompare},
		"train":     {summary: "train an experiment; resume a run (--resume); fine-tune (--init-from)", run: runTrain},
		"eval":      {summary: "evaluate a run or checkpoint on its data: metrics and per-class IoU", run: runEval},
		"predict":   {summary: "segment images with a trained model: palette masks and overlays", run: runPredict},
		"summary":   {summary: "print a model's layers, shapes, parameters, MACs, compute paths and crop offsets", run: runSummary},
		"bench":     {summary: "time the benchmark workloads W1–W4 (compare with scripts/torch_bench.py)", run: runBench},
		"import": {summary: "bring a Caffe net (prototxt, caffemodel, solver) in as an experiment and weights", subs: map[string]command{
			"caffe": {summary: "NET.prototxt [--weights NET.caffemodel] [--solver solver.prototxt] --out DIR", run: runImportCaffe},
		}},
		"export": {summary: "take a model out: ONNX (onnx) or a Caffe prototxt of the model section (prototxt)", subs: map[string]command{
			"onnx":     {summary: "write a run's or checkpoint's model as ONNX, checked by a sample input and output", run: runExportONNX},
			"prototxt": {summary: "write an experiment's model section as a Caffe prototxt", run: runExportPrototxt},
		}},
		"board":  {summary: "watch runs live in the browser: curves, per-class IoU, overlays, configs, reports", run: runBoard},
		"layers": {summary: "list the layer types with their options, defaults and docs (fcn layers conv: one)", run: runLayers},
	}
}

func main() {
	os.Exit(runMain(os.Args[1:], os.Stdout, os.Stderr))
}

// runMain is main without os.Exit, so tests can drive the whole command line.
func runMain(args []string, stdout, stderr io.Writer) int {
	return runCommand(command{
		summary: "fully convolutional networks for semantic segmentation, trained on the CPU",
		subs:    commands(),
	}, "fcn", args, stdout, stderr)
}

// runCommand runs c, named name ("fcn data"), on args: a command with subcommands takes
// the first argument as the subcommand's name, at any depth. It returns the exit status.
func runCommand(c command, name string, args []string, stdout, stderr io.Writer) int {
	for c.subs != nil {
		if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
			usage(stdout, name, c)
			return 0
		}
		sub, ok := c.subs[args[0]]
		if !ok {
			fmt.Fprintf(stderr, "%s: unknown command %q\n\n", name, args[0])
			usage(stderr, name, c)
			return 2
		}
		c, name, args = sub, name+" "+args[0], args[1:]
	}
	ctx, stop := interruptContext(stderr)
	defer stop()
	if err := c.run(ctx, args, stdout, stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
	return 0
}

// usage lists the subcommands of c.
func usage(w io.Writer, name string, c command) {
	fmt.Fprintf(w, "%s: %s\n", name, c.summary)
	fmt.Fprintf(w, "\nusage: %s <command> [flags]\n\ncommands:\n", name)
	names := make([]string, 0, len(c.subs))
	for n := range c.subs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, c.subs[n].summary)
	}
	fmt.Fprintf(w, "\nRun `%s <command> -h` for a command's flags.\n", name)
}

// interruptContext returns a context cancelled by the first SIGINT or SIGTERM, which
// commands take as a request to stop cleanly (fcn train finishes its step and writes a
// checkpoint). A second signal exits at once with status 130, leaving whatever was last
// written completely (checkpoints are written atomically).
func interruptContext(stderr io.Writer) (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-sigs:
			fmt.Fprintf(stderr, "\nfcn: %v: stopping after the current step (again to abort at once)\n", s)
			cancel()
		case <-done:
			return
		}
		select {
		case s := <-sigs:
			fmt.Fprintf(stderr, "fcn: %v again: aborting\n", s)
			os.Exit(130)
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(sigs)
		close(done)
		cancel()
	}
}
