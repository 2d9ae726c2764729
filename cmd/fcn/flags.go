package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// newFlagSet is the flag set of a command (name is its full name, "fcn eval"): errors go
// to stderr, and -h prints usage and then the flags.
func newFlagSet(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	return fs
}

// expSetFlag collects repeated --set key=value arguments.
type expSetFlag []string

func (s *expSetFlag) String() string     { return strings.Join(*s, " ") }
func (s *expSetFlag) Set(v string) error { *s = append(*s, v); return nil }

// addExperimentFlags adds --config NAME|FILE, described by configUsage, and --set, the
// experiment a command loads with configs.Load or configs.LoadModel.
func addExperimentFlags(fs *flag.FlagSet, configUsage string) (config *string, sets *expSetFlag) {
	config = fs.String("config", "", configUsage)
	sets = new(expSetFlag)
	fs.Var(sets, "set", "override a key of the experiment, e.g. --set train.steps=100 (repeatable)")
	return config, sets
}

// optionalValue is a flag that stands alone as a bool flag does, or takes the next
// argument as its value when that argument does not start with "-" (--resume,
// --resume PATH). It must also be a bool flag (IsBoolFlag), for the lone form.
type optionalValue interface {
	OptionalValue() bool
}

// parseArgs parses args into fs with flags and positional arguments in any order, which
// fs.Parse does not allow (it stops at the first positional argument), and returns the
// positional arguments in order; fs.Args() holds them too afterwards.
//
// "--" ends the flags: everything after it is positional. "-x" and "--x" are the same
// flag. A flag other than a bool flag takes the next argument as its value unless it is
// given as --x=v, even when that argument starts with "-", as fs.Parse does; a bool flag
// never does (--json=false, not --json false). "-" alone is positional. Unknown flags,
// a missing value and -h give fs.Parse's errors, usage and flag.ErrHelp.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var flags, positional []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			positional = append(positional, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			positional = append(positional, a)
			continue
		}
		flags = append(flags, a)
		name, _, hasValue := strings.Cut(strings.TrimPrefix(a[1:], "-"), "=")
		f := fs.Lookup(name)
		if hasValue || f == nil {
			continue // fs.Parse reports unknown flags
		}
		if isBoolFlag(f) {
			ov, ok := f.Value.(optionalValue)
			if !ok || !ov.OptionalValue() || i+1 == len(args) || strings.HasPrefix(args[i+1], "-") {
				continue
			}
			flags[len(flags)-1] = a + "=" + args[i+1]
		} else if i+1 == len(args) {
			return nil, fs.Parse(flags) // the value is missing: fs.Parse says so
		} else {
			flags = append(flags, args[i+1])
		}
		i++
	}
	// One fs.Parse over the flags, then "--" and the positional arguments, so that errors,
	// usage, fs.Visit and fs.Args() are the flag package's own.
	if err := fs.Parse(append(append(flags, "--"), positional...)); err != nil {
		return nil, err
	}
	return positional, nil
}

// parseFlags is parseArgs for commands that take no positional argument.
func parseFlags(fs *flag.FlagSet, args []string) error {
	pos, err := parseArgs(fs, args)
	if err == nil && len(pos) > 0 {
		err = fmt.Errorf("unexpected argument %q", pos[0])
	}
	return err
}

func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// addWeightsFlags adds --run DIR and --checkpoint PATH, the two ways eval, predict and
// export name a model's weights.
func addWeightsFlags(fs *flag.FlagSet) (run, ckpt *string) {
	run = fs.String("run", "", "run folder: its model.safetensors, else its latest checkpoint, and its config.yaml")
	ckpt = fs.String("checkpoint", "", "checkpoint folder, run folder or safetensors file")
	return run, ckpt
}

// weightsSource is the weights path of --run or --checkpoint: exactly one is needed,
// unless fresh is allowed (export with --config alone), which gives "".
func weightsSource(run, ckpt string, fresh bool) (string, error) {
	switch {
	case run != "" && ckpt != "":
		return "", errors.New("give --run or --checkpoint, not both")
	case run != "":
		return run, nil
	case ckpt != "":
		return ckpt, nil
	case fresh:
		return "", nil
	}
	return "", errors.New("--run DIR or --checkpoint PATH is required")
}
