package configs

import (
	"strings"
	"testing"
)

// model.init is the init of every conv and deconv that sets none; explicit inits win.
func TestModelInit(t *testing.T) {
	plain, err := Load("default", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	e, err := Load("default", []string{"model.init=pytorch"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	convs := 0
	for i, l := range e.Model.Layers {
		if l.Type != "conv" && l.Type != "deconv" {
			continue
		}
		convs++
		was := plain.Model.Layers[i].Options
		want := "pytorch"
		if was.Has("init") {
			want = was.String("init") // score_fr's zero, the deconvs' bilinear
		}
		if got := l.Options.String("init"); got != want {
			t.Errorf("%s: init %q, want %q", l.Name, got, want)
		}
	}
	if convs == 0 {
		t.Fatal("default config has no conv layers")
	}
	if Digest(e) == Digest(plain) {
		t.Error("model.init=pytorch left the digest unchanged")
	}
	// Unset, model.init is not written, so digests of existing files stay.
	keys, _, err := flatten(plain)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if k == "model.init" {
			t.Error("unset model.init is among the digested keys")
		}
	}
	// Written and loaded back, an experiment with model.init is the same.
	b, err := e.YAML()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse("config.yaml", "default", b, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := DiffDigest(e, back); len(d) > 0 {
		t.Errorf("round trip changed %v", d)
	}

	// model.upsample still decides a deconv's mode.
	e, err = Load("default", []string{"model.init=pytorch", "model.upsample=frozen"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range e.Model.Layers {
		if l.Type == "deconv" && l.Options.String("mode") != "frozen" {
			t.Errorf("%s: mode %q, want frozen", l.Name, l.Options.String("mode"))
		}
	}
}

func TestModelInitInvalid(t *testing.T) {
	for _, tc := range []struct{ v, want string }{
		{"bilinear", `model.init (from --set model.init=bilinear): "bilinear" is not an init of conv layers`},
		{"kaiming", `"kaiming" is not an init of conv layers (conv accepts he, xavier, gaussian, zero, pytorch)`},
	} {
		_, err := Load("default", []string{"model.init=" + tc.v}, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("model.init=%s: error %v, want %q", tc.v, err, tc.want)
		}
	}
}
