package configs

import (
	"strings"
	"testing"
)

// FuzzLoadConfig feeds arbitrary experiment text and --set overrides (one a line) to the
// loader: it must never panic; an error names the file; an accepted experiment written
// out with YAML loads back equal (Diff finds nothing), as `fcn train` relies on when it
// resumes from a run's config.yaml.
func FuzzLoadConfig(f *testing.F) {
	for _, name := range Names() {
		b, err := ReadShipped(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b), "")
		f.Add(string(b), "train.steps=3\nmodel.layers[0].out=5")
		f.Add(string(b[:len(b)/2]), "")
	}
	for _, s := range []struct{ text, sets string }{
		{"", ""},
		{"train: {steps: -1}", ""},
		{"model: {layers: [{name: a, type: conv, kernel: 99999999999}]}", ""},
		{"a: &x [*x]", ""},
		{"train:\n  steps: 1e400", "optim.lr=NaN"},
		{"name: x", "model.layers[7].kernel=3\n=\nfoo\ntrain.seed=-1"},
		{strings.Repeat("[", 100) + strings.Repeat("]", 100), ""},
		{"data: {format: voc, root: ../../etc}", "data.train_split=../x"},
	} {
		f.Add(s.text, s.sets)
	}
	f.Fuzz(func(t *testing.T, text, setLines string) {
		var sets []string
		if setLines != "" {
			sets = strings.Split(setLines, "\n")
		}
		exp, err := Parse("fuzz.yaml", "fuzz", []byte(text), sets, nil)
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.yaml") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		out, err := exp.YAML()
		if err != nil {
			t.Fatalf("cannot write an accepted experiment: %v", err)
		}
		back, err := Parse("fuzz-out.yaml", "fuzz", out, nil, nil)
		if err != nil {
			t.Fatalf("written experiment refused: %v\n%s", err, out)
		}
		if d := Diff(exp, back); len(d) > 0 {
			t.Fatalf("written and read back, %v differ\n%s", d, out)
		}
	})
}
