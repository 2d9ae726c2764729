package layers

import "testing"

// Every model type must be exportable to ONNX; internal types (the loss) are dropped.
func TestEveryModelTypeHasONNXExport(t *testing.T) {
	for _, name := range ModelTypes() {
		typ, _ := Lookup(name)
		if typ.ONNXExport == nil {
			t.Errorf("layer type %s has no ONNXExport mapping", typ.Name)
		}
	}
}
