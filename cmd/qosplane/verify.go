package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/qosplane/qosplane/e2e/verify"
	"github.com/qosplane/qosplane/model"
)

const verifyUsage = "usage: qosplane verify POLICY [--target T] [--expect FILE] [--duration D] [--junit FILE] [--report FILE.html]"

// runVerify runs qosplane verify (package e2e/verify): exit 0 when every
// expectation holds, 1 when one fails (or the lab cannot run), 2 on usage.
func runVerify(ctx context.Context, c *cli, args []string) int {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	target := fs.String("target", "", "verify only this target (default: every NIC target)")
	expect := fs.String("expect", "", "expectations file (YAML) adding to or tightening the derived ones")
	dur := fs.Duration("duration", 4*time.Second, "how long each phase sends (at least 2s)")
	junit := fs.String("junit", "", "write JUnit XML here (one test case per expectation)")
	report := fs.String("report", "", "write a self-contained HTML report here")
	logLevel := fs.String("log-level", "warn", "log level: debug, info, warn or error")
	pos, err := parseInterspersed(fs, args)
	if err != nil || len(pos) != 1 || *dur < 2*time.Second {
		if err != nil {
			c.errorf("%v", err)
		} else if len(pos) == 1 {
			c.errorf("--duration %v: at least 2s", *dur)
		}
		c.errorf(verifyUsage)
		return exitUsage
	}
	log, err := newLogger(c.stderr, "text", *logLevel)
	if err != nil {
		c.errorf("%v", err)
		return exitUsage
	}
	p, err := model.LoadFile(pos[0])
	if err != nil {
		fmt.Fprintln(c.stderr, err)
		return exitInvalid
	}
	targets, err := verify.Targets(p, *target)
	if err != nil {
		c.errorf("%v", err)
		return exitInvalid
	}
	var exps []verify.FileExpectation
	if *expect != "" {
		if exps, err = verify.LoadExpectations(*expect, p); err != nil {
			fmt.Fprintln(c.stderr, err)
			return exitInvalid
		}
	}
	results, err := verify.Run(ctx, p, targets, verify.Options{Duration: *dur, Expect: exps, Log: log})
	if err != nil {
		if errors.Is(err, context.Canceled) {
			c.errorf("verify: interrupted; the lab is torn down")
		} else {
			c.errorf("verify %s: %v", pos[0], err)
		}
		return exitInvalid
	}
	if err := verify.WriteTable(c.stdout, pos[0], results); err != nil {
		c.errorf("%v", err)
		return exitInvalid
	}
	now := time.Now()
	if *junit != "" {
		if err := writeFile(*junit, func(f *os.File) error { return verify.WriteJUnit(f, verify.JUnit(pos[0], results, now)) }); err != nil {
			c.errorf("--junit: %v", err)
			return exitInvalid
		}
	}
	if *report != "" {
		if err := writeFile(*report, func(f *os.File) error { return verify.WriteReport(f, pos[0], results, now) }); err != nil {
			c.errorf("--report: %v", err)
			return exitInvalid
		}
	}
	if verify.Count(results).Fail > 0 {
		return exitInvalid
	}
	return exitOK
}

// writeFile creates path and writes it with write.
func writeFile(path string, write func(*os.File) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
