// Package onnxpb is Go code generated from onnx_subset.proto, the part of ONNX's
// onnx.proto that fcn writes (same message names and field numbers).
//
// To regenerate (protoc 3.21+, Debian's protobuf-compiler, and protoc-gen-go v1.36.12 from
// `go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12`, on PATH), from this folder:
//
//	go generate
package onnxpb

//go:generate protoc --go_out=. --go_opt=paths=source_relative onnx_subset.proto
