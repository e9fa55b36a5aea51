//go:build tools

// Package tools pins grpcurl, which the tests use to call the services through gRPC server reflection
// (without the .proto files), as an operator would.
package tools

import _ "github.com/fullstorydev/grpcurl/cmd/grpcurl"
