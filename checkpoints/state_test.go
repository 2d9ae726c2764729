package checkpoints

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzParseState feeds arbitrary bytes to the state.json parser: no panic, and what it
// accepts re-encodes to a state it accepts again.
func FuzzParseState(f *testing.F) {
	ok := `{"format_version":1,"step":3,"epoch":0,"loader":{"epoch":0,"index":3},"schedule":{"step":3,"lr":0.01},` +
		`"experiment_digest":"d","metrics":{"loss":"NaN","val_miou":0.5},"rng":{"data":"AAEC"},` +
		`"files":{"model.safetensors":{"sha256":"` + string(bytes.Repeat([]byte("a"), 64)) + `","size":100,"tensors":["a"]},` +
		`"optimizer.safetensors":{"sha256":"` + string(bytes.Repeat([]byte("b"), 64)) + `","size":8,"tensors":[]}}}`
	for _, s := range []string{"", "{}", "null", ok, ok[:len(ok)/2], `{"format_version":2}`, `{"metrics":{"a":"Inf"}}`, ok + "x",
		// Added with the hostile-input work: out-of-range and negative numbers, deep
		// nesting, a huge string, duplicate keys.
		strings.Replace(ok, `"step":3`, `"step":-3`, 1),
		strings.Replace(ok, `"step":3`, `"step":1e400`, 1),
		strings.Replace(ok, `"size":100`, `"size":-1`, 1),
		strings.Repeat(`{"a":`, 500) + strings.Repeat("}", 500),
		`{"experiment_digest":"` + strings.Repeat("x", 1<<16) + `"}`,
		strings.Replace(ok, `"step":3,`, `"step":3,"step":4,`, 1),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := ParseState("state.json", b)
		if err != nil {
			return
		}
		out, err := encodeState(st)
		if err != nil {
			t.Fatalf("cannot encode an accepted state: %v", err)
		}
		if _, err := ParseState("state.json", out); err != nil {
			t.Fatalf("re-encoded state refused: %v\n%s", err, out)
		}
	})
}
