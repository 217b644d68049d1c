package vethlab

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// IperfResult is an iperf3 TCP run as the receiver counted it.
type IperfResult struct {
	// Streams are the per-connection receive rates in bit/s.
	Streams []float64
	// Total is their sum in bit/s.
	Total float64
	// Retransmits counts the sender's TCP retransmissions.
	Retransmits int
	// Windows are the receiver's goodput per reporting interval (1 s,
	// iperf3's default), in bit/s, from the server's own report.
	Windows []float64
}

// Iperf runs iperf3 TCP from app to peer: streams parallel connections for
// d, to port. It starts the server in peer and stops it afterwards.
func (l *Lab) Iperf(ctx context.Context, port int, streams int, d time.Duration, extra ...string) (*IperfResult, error) {
	if _, err := exec.LookPath("iperf3"); err != nil {
		return nil, fmt.Errorf("iperf3: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, d+20*time.Second)
	defer cancel()
	srv, err := l.Peer.Start(ctx, nil, "iperf3", "-s", "-1", "-J", "-B", l.PeerIP.String(), "-p", strconv.Itoa(port))
	if err != nil {
		return nil, fmt.Errorf("iperf3 server: %w", err)
	}
	defer func() {
		_ = srv.Signal(syscall.SIGKILL)
		_ = srv.Wait()
	}()
	var out []byte
	for try := 0; try < 20; try++ {
		time.Sleep(100 * time.Millisecond)
		args := append([]string{"iperf3", "-c", l.PeerIP.String(), "-p", strconv.Itoa(port), "-J", "--get-server-output",
			"-P", strconv.Itoa(streams), "-t", strconv.FormatFloat(d.Seconds(), 'f', 1, 64)}, extra...)
		var buf bytes.Buffer
		var cl *Child
		if cl, err = l.App.Start(ctx, &buf, args[0], args[1:]...); err == nil {
			err = cl.Wait()
		}
		out = buf.Bytes()
		if err == nil {
			break
		}
		var doc struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(out, &doc) == nil && doc.Error != "" && try < 19 {
			continue // server not listening yet
		}
		return nil, fmt.Errorf("iperf3 client: %w: %s", err, out)
	}
	if err != nil {
		return nil, fmt.Errorf("iperf3 client: %w", err)
	}
	var doc struct {
		End struct {
			Streams []struct {
				Receiver struct {
					BitsPerSecond float64 `json:"bits_per_second"`
				} `json:"receiver"`
				Sender struct {
					Retransmits int `json:"retransmits"`
				} `json:"sender"`
			} `json:"streams"`
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
		Server struct {
			Intervals []struct {
				Sum struct {
					BitsPerSecond float64 `json:"bits_per_second"`
				} `json:"sum"`
			} `json:"intervals"`
		} `json:"server_output_json"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		return nil, fmt.Errorf("iperf3 output: %w", err)
	}
	r := &IperfResult{Total: doc.End.SumReceived.BitsPerSecond}
	for _, s := range doc.End.Streams {
		r.Streams = append(r.Streams, s.Receiver.BitsPerSecond)
		r.Retransmits += s.Sender.Retransmits
	}
	for _, w := range doc.Server.Intervals {
		r.Windows = append(r.Windows, w.Sum.BitsPerSecond)
	}
	return r, nil
}

// Jain returns Jain's fairness index of xs: (Σx)² / (n·Σx²), 1 when equal.
func Jain(xs []float64) float64 {
	var s, s2 float64
	for _, x := range xs {
		s += x
		s2 += x * x
	}
	if s2 == 0 {
		return 0
	}
	return s * s / (float64(len(xs)) * s2)
}
