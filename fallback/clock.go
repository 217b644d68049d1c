package fallback

import "time"

// start anchors Now; time.Since on it reads the runtime's monotonic clock.
var start = time.Now()

// Now returns monotonic time in nanoseconds since an arbitrary origin fixed
// at process start. It never goes backwards and is the clock the datapath
// passes to Enqueue and Dequeue (read once per batch).
func Now() int64 { return int64(time.Since(start)) }
