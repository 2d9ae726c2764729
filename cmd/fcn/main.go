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

// command is one subcommand. run gets the arguments after the subcommand's name and
// returns an error to print (no stack trace) and exit non-zero.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// commands lists the subcommands; each lives in a file of its own.
func commands() map[string]command {
	return map[string]command{
		"data":      {summary: "make the synthetic set (synth) or validate a dataset (check)", run: runData},
		"gradcheck": {summary: "check every layer's gradients against finite differences (--json, --run)", run: runGradcheck},
		"compare":   {summary: "train variants of a study (e.g. upsampling modes) and report them side by side", run: runCompare},
		"train":     {summary: "train an experiment; resume a run (--resume); fine-tune (--init-from)", run: runTrain},
		"eval":      {summary: "evaluate a run or checkpoint on its data: metrics and per-class IoU", run: runEval},
		"predict":   {summary: "segment images with a trained model: palette masks and overlays", run: runPredict},
		"summary":   {summary: "print a model's layers, shapes, parameters, MACs and crop offsets", run: runSummary},
		"bench":     {summary: "time the benchmark workloads W1–W4 (compare with scripts/torch_bench.py)", run: runBench},
		"layers":    {summary: "list the layer types with their options, defaults and docs (fcn layers conv: one)", run: runLayers},
	}
}

func main() {
	os.Exit(runMain(os.Args[1:], os.Stdout, os.Stderr))
}

// runMain is main without os.Exit, so tests can drive the whole command line.
func runMain(args []string, stdout, stderr io.Writer) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout, cmds)
		return 0
	}
	c, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "fcn: unknown command %q\n\n", args[0])
		usage(stderr, cmds)
		return 2
	}
	ctx, stop := interruptContext(stderr)
	defer stop()
	if err := c.run(ctx, args[1:], stdout, stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "fcn %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

func usage(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "fcn: fully convolutional networks for semantic segmentation, trained on the CPU")
	fmt.Fprintln(w, "\nusage: fcn <command> [flags]\n\ncommands:")
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nRun `fcn <command> -h` for a command's flags.")
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
