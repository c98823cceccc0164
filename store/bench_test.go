package store

import (
	"context"
	"strconv"
	"testing"
)

// BenchmarkOpenCloseCall measures one durable OpenCall plus one durable
// CloseCall (two fsynced commits with synchronous=FULL).
func BenchmarkOpenCloseCall(b *testing.B) {
	ctx := context.Background()
	s := newTest(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		id := "bench-" + strconv.Itoa(i)
		i++
		if err := s.OpenCall(ctx, CDR{ID: id, Direction: Outbound, Line: "14155550100", SIPCallID: id}); err != nil {
			b.Fatal(err)
		}
		if err := s.CloseCall(ctx, id, CallEnd{Result: "answered", Stats: Stats{PacketsSIPIn: 100}}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpenCloseCallParallel: the same from many goroutines (writes are
// serialised through the single writer connection).
func BenchmarkOpenCloseCallParallel(b *testing.B) {
	ctx := context.Background()
	s := newTest(b)
	b.ReportAllocs()
	var seq chan int = make(chan int, 1)
	seq <- 0
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := <-seq
			seq <- n + 1
			id := "bench-" + strconv.Itoa(n)
			if err := s.OpenCall(ctx, CDR{ID: id, Direction: Inbound, Line: "14155550100"}); err != nil {
				b.Error(err)
				return
			}
			if err := s.CloseCall(ctx, id, CallEnd{Result: "answered"}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkGetLine measures a token read (query + two AES-GCM opens).
func BenchmarkGetLine(b *testing.B) {
	ctx := context.Background()
	s := newTest(b)
	if err := s.PutLine(ctx, Line{MSISDN: "14155550100", AccessToken: "AT", RefreshToken: "RT"}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.GetLine(ctx, "14155550100"); err != nil {
			b.Fatal(err)
		}
	}
}
