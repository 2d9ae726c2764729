package main

import (
	"bytes"
	"errors"
	"flag"
	"slices"
	"strings"
	"testing"
)

// TestParseArgs: flags and positional arguments in any order, as the flag package would
// parse the flags alone.
func TestParseArgs(t *testing.T) {
	type got struct {
		out, set string
		json     bool
		n        int
		resume   resumeFlag
		pos      []string
	}
	cases := []struct {
		name string
		args []string
		want got
		err  string // non-empty: the error must contain it
	}{
		{name: "none", args: nil, want: got{n: 1}},
		{name: "flags before", args: []string{"--out", "x", "-n", "3", "a", "b"}, want: got{out: "x", n: 3, pos: []string{"a", "b"}}},
		{name: "flags after", args: []string{"a", "b", "--out", "x", "--json"}, want: got{out: "x", json: true, n: 1, pos: []string{"a", "b"}}},
		{name: "mixed", args: []string{"a", "--out", "x", "b", "-json", "c", "--n=4"}, want: got{out: "x", json: true, n: 4, pos: []string{"a", "b", "c"}}},
		{name: "double dash", args: []string{"a", "--", "--out", "x", "-json"}, want: got{n: 1, pos: []string{"a", "--out", "x", "-json"}}},
		{name: "double dash first", args: []string{"--", "--"}, want: got{n: 1, pos: []string{"--"}}},
		{name: "equals", args: []string{"--out=x=y", "--set=a=1", "-n=2"}, want: got{out: "x=y", set: "a=1", n: 2}},
		{name: "bool takes no value", args: []string{"--json", "false"}, want: got{json: true, n: 1, pos: []string{"false"}}},
		{name: "bool with equals", args: []string{"--json=false", "a"}, want: got{n: 1, pos: []string{"a"}}},
		{name: "flag-like value", args: []string{"--out", "--json", "--set", "-x", "a"}, want: got{out: "--json", set: "-x", n: 1, pos: []string{"a"}}},
		{name: "value is double dash", args: []string{"--out", "--", "a"}, want: got{out: "--", n: 1, pos: []string{"a"}}},
		{name: "lone dash", args: []string{"-", "--out", "x"}, want: got{out: "x", n: 1, pos: []string{"-"}}},
		{name: "optional value alone", args: []string{"--resume", "--out", "x"}, want: got{out: "x", n: 1, resume: resumeFlag{set: true}}},
		{name: "optional value given", args: []string{"--resume", "ck", "a"}, want: got{n: 1, resume: resumeFlag{set: true, path: "ck"}, pos: []string{"a"}}},
		{name: "optional value with equals", args: []string{"a", "--resume=ck"}, want: got{n: 1, resume: resumeFlag{set: true, path: "ck"}, pos: []string{"a"}}},
		{name: "optional value last", args: []string{"a", "--resume"}, want: got{n: 1, resume: resumeFlag{set: true}, pos: []string{"a"}}},
		{name: "missing value", args: []string{"a", "--out"}, err: "flag needs an argument: -out"},
		{name: "bad value", args: []string{"-n", "many", "a"}, err: `invalid value "many" for flag -n`},
		{name: "unknown flag after positional", args: []string{"a", "--bogus", "x"}, err: "flag provided but not defined: -bogus"},
		{name: "unknown flag with value", args: []string{"--bogus=1"}, err: "flag provided but not defined: -bogus"},
		{name: "bad syntax", args: []string{"---out", "x"}, err: "bad flag syntax: ---out"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var g got
			var stderr bytes.Buffer
			fs := newFlagSet("fcn test", "usage: fcn test\n", &stderr)
			fs.StringVar(&g.out, "out", "", "")
			fs.StringVar(&g.set, "set", "", "")
			fs.BoolVar(&g.json, "json", false, "")
			fs.IntVar(&g.n, "n", 1, "")
			fs.Var(&g.resume, "resume", "")
			pos, err := parseArgs(fs, c.args)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one containing %q", err, c.err)
				}
				if !strings.Contains(stderr.String(), "usage: fcn test") {
					t.Errorf("no usage after the error: %q", stderr.String())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			g.pos = pos
			if !slices.Equal(fs.Args(), pos) {
				t.Errorf("fs.Args() %q, returned %q", fs.Args(), pos)
			}
			if g.out != c.want.out || g.set != c.want.set || g.json != c.want.json || g.n != c.want.n || g.resume != c.want.resume || !slices.Equal(g.pos, c.want.pos) {
				t.Errorf("got %+v\nwant %+v", g, c.want)
			}
		})
	}
}

func TestParseArgsHelp(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"a", "--help"}} {
		var stderr bytes.Buffer
		fs := newFlagSet("fcn test", "usage: fcn test ARG\n", &stderr)
		fs.String("out", "", "where")
		if _, err := parseArgs(fs, args); !errors.Is(err, flag.ErrHelp) || !strings.Contains(stderr.String(), "usage: fcn test ARG") || !strings.Contains(stderr.String(), "-out") {
			t.Errorf("%q: %v\n%s", args, err, stderr.String())
		}
	}
}
