package configs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestConfigLimits: oversized and deeply nested experiments (files and --set) are
// refused quickly, before the YAML parser, with the file and the limit named.
func TestConfigLimits(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var block strings.Builder
	for i := range 100 {
		block.WriteString(strings.Repeat("  ", i) + "a:\n")
	}
	layer := "    - {name: c%d, type: conv, out: 8, kernel: 3, pad: 1}\n"
	var many strings.Builder
	many.WriteString("model:\n  classes: 2\n  layers:\n")
	for many.Len() < 2<<20 {
		many.WriteString(strings.Replace(layer, "%d", "x", 1))
	}
	tests := []struct {
		name, file string
		sets       []string
		want       []string
	}{
		{"10 MB nested flow", write("nested.yaml", strings.Repeat("[", 5<<20)+strings.Repeat("]", 5<<20)), nil, []string{"nested.yaml", "byte limit"}},
		{"2 MB of layers", write("many.yaml", many.String()), nil, []string{"many.yaml", "byte limit"}},
		{"deep flow", write("flow.yaml", "name: x\nmodel: "+strings.Repeat("[", 200)+strings.Repeat("]", 200)+"\n"), nil, []string{"flow.yaml:2", "deeper than 64"}},
		{"deep block", write("block.yaml", block.String()), nil, []string{"block.yaml:", "deeper than 64"}},
		{"deep sequence", write("seq.yaml", strings.Repeat("- ", 100)+"x\n"), nil, []string{"seq.yaml:1", "deeper than 64"}},
		{"deep --set", write("ok.yaml", "name: x\n"), []string{"optim.lr=" + strings.Repeat("[", 100) + strings.Repeat("]", 100)}, []string{"--set optim.lr=[[[", "deeper than 64"}},
		{"huge --set", write("ok2.yaml", "name: x\n"), []string{"name=" + strings.Repeat("x", 70<<10)}, []string{"--set name=xxx", "byte limit"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			_, err := Load(tc.file, tc.sets, nil)
			if d := time.Since(start); d > time.Second {
				t.Errorf("took %v to refuse, want under 1 s", d)
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
	// Real experiments are far inside the limits.
	for _, name := range Names() {
		b, _ := ReadShipped(name)
		if d, _ := yamlDepth(b, MaxDepth); d > 8 {
			t.Errorf("shipped %s measures %d levels deep", name, d)
		}
	}
}

// TestYAMLDepthByHand checks the depth measure on small cases worked out by hand.
func TestYAMLDepthByHand(t *testing.T) {
	tests := []struct {
		text string
		want int
	}{
		{"a: 1\n", 1},
		{"a:\n  b: 1\n", 2},
		{"a:\n  b:\n    c: [1, [2]]\n", 5},
		{"a: {b: {c: 1}}\n", 3},
		{"- a\n- b\n", 2},
		{"l:\n  - {x: 1}\n", 3}, // the mapping, its sequence, the flow mapping in it
		{"a: '[[[['\nb: \"{{{\"  # [[[\n", 1},
	}
	for _, tc := range tests {
		if got, _ := yamlDepth([]byte(tc.text), 100); got != tc.want {
			t.Errorf("yamlDepth(%q) = %d, want %d", tc.text, got, tc.want)
		}
	}
}
