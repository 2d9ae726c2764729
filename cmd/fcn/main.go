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
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
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
