package MailTrack::Msgpack;

# msgpack, written by hand, for tests that craft spool records byte by
# byte: maps are [key, value, ...] in order; values are undef (nil),
# \1 / \0 (bool), integers, S("text") for a string that looks like a
# number, B("bytes") for bin, F(1.5) for float64, [..] a map.

use strict;
use warnings;

use Exporter 'import';

our @EXPORT = qw(S B F mp mp_str mp_int);
our @EXPORT_OK = qw(rec);

sub S { bless \(my $s = $_[0]), 'S' }
sub B { bless \(my $s = $_[0]), 'B' }
sub F { bless \(my $s = $_[0]), 'F' }

sub mp_str {
    my ($s, $bin) = @_;
    my $n = length $s;
    return pack('C', 0xc4) . pack('C', $n) . $s if $bin && $n < 256;
    return pack('C', 0xa0 | $n) . $s if $n < 32;
    return pack('C C', 0xd9, $n) . $s if $n < 256;
    return pack('C n', 0xda, $n) . $s if $n < 65536;
    return pack('C N', 0xdb, $n) . $s;
}

sub mp_int {
    my ($v) = @_;
    if ($v >= 0) {
        return pack('C', $v) if $v < 128;
        return pack('C C', 0xcc, $v) if $v < 256;
        return pack('C n', 0xcd, $v) if $v < 65536;
        return pack('C N', 0xce, $v) if $v < 4294967296;
        return pack('C Q>', 0xcf, $v);
    }
    return pack('c', $v) if $v >= -32;
    return pack('C c', 0xd0, $v) if $v >= -128;
    return pack('C s>', 0xd1, $v) if $v >= -32768;
    return pack('C l>', 0xd2, $v) if $v >= -2147483648;
    return pack('C q>', 0xd3, $v);
}

sub mp {
    my ($v) = @_;
    return "\xc0" unless defined $v;
    if (ref $v eq 'ARRAY') {
        my $n = @$v / 2;
        my $h = $n < 16 ? pack('C', 0x80 | $n) : pack('C n', 0xde, $n);
        return $h . join '', map { mp($_) } @$v;
    }
    return ${$v} ? "\xc3" : "\xc2" if ref $v eq 'SCALAR';
    return mp_str(${$v}) if ref $v eq 'S';
    return mp_str(${$v}, 1) if ref $v eq 'B';
    return pack('C d>', 0xcb, ${$v}) if ref $v eq 'F';
    return mp_int($v) if $v =~ /^-?[0-9]+$/;
    return mp_str($v);
}

# a record as the module writes it: v first, then the fields given
sub rec {
    my ($id, %more) = @_;
    my @kv = (v => 1, id => S($id), rt => 1764000000000 + ($id =~ /(\d+)/ ? $1 : 0),
              src => 'track', type => 'opened');
    push @kv, map { ($_, $more{$_}) } sort keys %more;
    return \@kv;
}

1;
