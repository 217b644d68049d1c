package gnmi

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestTimedOut: a call ended by a deadline reads as
// context.DeadlineExceeded, also when gRPC's own deadline timer ended it
// before ctx's timer marked ctx done (the status alone says so); other
// failures keep their error.
func TestTimedOut(t *testing.T) {
	live := context.Background()
	expired, cancel := context.WithTimeout(context.Background(), 0)
	defer cancel()
	<-expired.Done()
	cancelled, cancel2 := context.WithCancel(context.Background())
	cancel2()

	grpcDeadline := fmt.Errorf("gNMI Capabilities: %w", status.Error(codes.DeadlineExceeded, "stream terminated by RST_STREAM with error code: CANCEL"))
	unavailable := fmt.Errorf("gNMI Capabilities: %w", status.Error(codes.Unavailable, "connection refused"))
	for _, c := range []struct {
		what     string
		ctx      context.Context
		err      error
		deadline bool
	}{
		{"gRPC deadline status, ctx not yet marked done", live, grpcDeadline, true},
		{"gRPC deadline status, ctx expired", expired, grpcDeadline, true},
		{"other failure after ctx expired", expired, unavailable, true},
		{"other failure, ctx live", live, unavailable, false},
		{"other failure, ctx cancelled", cancelled, unavailable, false},
		{"already a context deadline", live, fmt.Errorf("open: %w", context.DeadlineExceeded), true},
	} {
		got := timedOut(c.ctx, c.err)
		if errors.Is(got, context.DeadlineExceeded) != c.deadline {
			t.Errorf("%s: timedOut = %v, matches DeadlineExceeded %v, want %v", c.what, got, !c.deadline, c.deadline)
		}
		if !errors.Is(got, c.err) {
			t.Errorf("%s: timedOut = %v lost the original error", c.what, got)
		}
	}
}
