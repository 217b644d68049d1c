package verify

import (
	"encoding/xml"
	"fmt"
	"io"
	"time"
)

// JUnit XML as CI systems read it (the Jenkins/Ant schema's subset):
// testsuites > testsuite (one a target) > testcase (one an expectation),
// with a failure or skipped element where it did not pass.

// JUnitCounts are the attributes testsuites and testsuite share: test
// cases, failed, errored and skipped ones, and seconds.
type JUnitCounts struct {
	Tests    int    `xml:"tests,attr"`
	Failures int    `xml:"failures,attr"`
	Errors   int    `xml:"errors,attr"`
	Skipped  int    `xml:"skipped,attr"`
	Time     string `xml:"time,attr"`
}

// JUnitSuites is the document element.
type JUnitSuites struct {
	XMLName xml.Name `xml:"testsuites"`
	Name    string   `xml:"name,attr"`
	JUnitCounts
	Suites []JUnitSuite `xml:"testsuite"`
}

// JUnitSuite is one target.
type JUnitSuite struct {
	Name string `xml:"name,attr"`
	JUnitCounts
	Timestamp string      `xml:"timestamp,attr"`
	Cases     []JUnitCase `xml:"testcase"`
}

// JUnitCase is one expectation.
type JUnitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *JUnitMessage `xml:"failure"`
	Skipped   *JUnitMessage `xml:"skipped"`
	SystemOut string        `xml:"system-out,omitempty"`
}

// JUnitMessage is a failure's or a skip's message.
type JUnitMessage struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Text    string `xml:",chardata"`
}

// JUnit builds the JUnit document of results; policy names it.
func JUnit(policy string, results []*Result, now time.Time) *JUnitSuites {
	doc := &JUnitSuites{Name: "qosplane verify " + policy}
	var total time.Duration
	for _, r := range results {
		d := r.Load.Duration * time.Duration(1+len(r.Overloads))
		total += d
		s := JUnitSuite{Name: fmt.Sprintf("%s/%s", policy, r.Setup.Target), Timestamp: now.UTC().Format("2006-01-02T15:04:05")}
		s.Time = secs(d)
		for _, v := range r.Verdicts {
			c := JUnitCase{Name: v.Name(), Classname: "qosplane.verify." + r.Setup.Target, Time: "0",
				SystemOut: fmt.Sprintf("measured: %s\nfrom: %s", v.Measured, v.Source)}
			switch v.Status {
			case Fail:
				c.Failure = &JUnitMessage{Message: v.Measured, Type: "expectation", Text: v.Name() + ": measured " + v.Measured}
				s.Failures++
			case NotVerified:
				c.Skipped = &JUnitMessage{Message: "not verified: " + v.Measured}
				s.Skipped++
			}
			s.Cases = append(s.Cases, c)
		}
		s.Tests = len(s.Cases)
		doc.Tests += s.Tests
		doc.Failures += s.Failures
		doc.Skipped += s.Skipped
		doc.Suites = append(doc.Suites, s)
	}
	doc.Time = secs(total)
	return doc
}

func secs(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }

// WriteJUnit writes doc as an XML document.
func WriteJUnit(w io.Writer, doc *JUnitSuites) error {
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("junit: %w", err)
	}
	_, err := io.WriteString(w, "\n")
	return err
}
