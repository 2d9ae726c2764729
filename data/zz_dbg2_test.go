package data

import (
	"encoding/binary"
	"os"
	"testing"
)

func TestDbgDump(t *testing.T) {
	c := DefaultSyntheticConfig()
	if v := os.Getenv("SYN_CLASSES"); v != "" {
		c.Classes = int(v[0] - '0')
	}
	for _, sp := range []string{"train", "val"} {
		ds, _ := NewSynthetic(c, sp, nil)
		fi, _ := os.Create("/tmp/synthdbg/" + sp + "_img.bin")
		fl, _ := os.Create("/tmp/synthdbg/" + sp + "_lab.bin")
		for i := 0; i < ds.Len(); i++ {
			s, _ := ds.Sample(i)
			binary.Write(fi, binary.LittleEndian, s.Image)
			binary.Write(fl, binary.LittleEndian, s.Label)
		}
		fi.Close()
		fl.Close()
	}
}
