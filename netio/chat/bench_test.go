package chat

import (
	"fmt"
	"net"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"
)

// BenchmarkFanout: one sender, 200 readers; messages a second delivered to
// every reader, and the delivery latency from send to each reader.
func BenchmarkFanout(b *testing.B) {
	s := startServer(b, func(s *Server) { s.MaxPerAddress = DefaultMaxClients })
	const readers = 200
	var wg sync.WaitGroup
	lat := make([][]time.Duration, readers)
	sentAt := sync.Map{}
	total := 0
	for i := range readers {
		c, _ := dial(b, s.addr, fmt.Sprintf("r%d", i), "")
		wg.Go(func() {
			for m := range c.Events() {
				if m.Type != TypeChat {
					continue
				}
				if t0, ok := sentAt.Load(m.Text); ok {
					lat[i] = append(lat[i], time.Since(t0.(time.Time)))
				}
				if m.Text == "stop" {
					return
				}
			}
		})
	}
	senders := make([]*Client, 8)
	for i := range senders {
		senders[i], _ = dial(b, s.addr, fmt.Sprintf("s%d", i), "")
	}
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		c := senders[i%len(senders)]
		text := fmt.Sprintf("m%d", i)
		sentAt.Store(text, time.Now())
		c.Chat(text)
		// Stay under each sender's rate limit: 10 a second each.
		if i%len(senders) == len(senders)-1 {
			time.Sleep(100 * time.Millisecond)
		}
		total++
	}
	senders[0].Chat("stop")
	wg.Wait()
	el := time.Since(start)
	b.StopTimer()
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	b.ReportMetric(float64(len(all))/el.Seconds(), "deliveries/s")
	if len(all) > 0 {
		b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
	}
}

// BenchmarkIdleClient: the server's memory per connected, idle client.
func BenchmarkIdleClient(b *testing.B) {
	s := startServer(b, func(s *Server) { s.MaxPerAddress, s.MaxPendingPerAddress = DefaultMaxClients, DefaultMaxPending })
	const n = 200
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	before := ms.HeapInuse + ms.StackInuse
	conns := make([]net.Conn, 0, n)
	for i := range n {
		nc, err := net.Dial("tcp", s.addr)
		if err != nil {
			b.Fatal(err)
		}
		fmt.Fprintf(nc, `{"type":"hello","v":1,"name":"idle%d"}`+"\n", i)
		conns = append(conns, nc)
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.Viewers() < n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	for b.Loop() {
		time.Sleep(time.Millisecond)
	}
	runtime.GC()
	runtime.ReadMemStats(&ms)
	// The test's own ends of the connections are a few hundred bytes each;
	// what grew is the server's.
	b.ReportMetric(float64(ms.HeapInuse+ms.StackInuse-before)/n/1024, "KiB/client")
	for _, c := range conns {
		c.Close()
	}
}
