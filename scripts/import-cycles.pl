#!/usr/bin/env perl
# Fails when a module imports a module that imports it back (part of
# `make lint`). Two modules that need each other are one module in two
# files, or a type in the wrong one; the fix is to move the shared type
# down, not to silence this.
#
# Per crate (each folder given, default: every crate of the workspace), an
# edge A -> B is a column-0 `use crate::B...` / `use super::B...` in A, or a
# `crate::B::...` path anywhere in A's code. A parent and its own children
# are not counted: `mod` and `pub use` of a child are structure. Perl
# because it is in every Debian base system.
use strict;
use warnings;
use File::Find;

my @crates = @ARGV ? @ARGV : grep { -d "$_/src" } ('core', 'cli', 'src-tauri', glob('tests/*'));
my $found = 0;

for my $crate (@crates) {
    my $src = "$crate/src";
    my %file_of;    # module path ("" is the crate root) -> file
    find(sub {
        return unless /\.rs$/;
        my $rel = $File::Find::name;
        $rel =~ s{^\Q$src\E/}{};
        return if $rel =~ m{^bin/};
        my $m = $rel;
        $m =~ s{\.rs$}{};
        $m =~ s{(^|/)(lib|main|mod)$}{};
        # A crate with a library: main.rs is another crate over it.
        return if $rel eq 'main.rs' && -e "$src/lib.rs";
        $m =~ s{/}{::}g;
        $file_of{$m} = $File::Find::name;
    }, $src);

    my %edges;
    for my $m (sort keys %file_of) {
        my $code = strip(slurp($file_of{$m}));
        my @paths;
        while ($code =~ /^(?:pub(?:\([^)]*\))?\s+)?use\s+([^;]+);/mg) {
            push @paths, expand($1);
        }
        while ($code =~ /\bcrate((?:::\w+)+)/g) {
            push @paths, "crate$1";
        }
        for my $p (@paths) {
            my $target = resolve($m, $p, \%file_of);
            next unless defined $target;
            next if related($m, $target);
            $edges{$m}{$target} = 1;
        }
    }
    for my $a (sort keys %edges) {
        for my $b (sort keys %{ $edges{$a} }) {
            next unless $a lt $b && $edges{$b}{$a};
            print "$crate: $file_of{$a} and $file_of{$b} import each other\n";
            $found = 1;
        }
    }
}
exit $found;

sub slurp {
    my ($file) = @_;
    open my $fh, '<', $file or die "$file: $!";
    local $/;
    return <$fh>;
}

# Code without strings and comments, so neither can fake an import.
sub strip {
    my ($s) = @_;
    $s =~ s/\br(#*)".*?"\1//gs;
    $s =~ s/"(?:\\.|[^"\\])*"/""/gs;
    $s =~ s/'(?:\\.|[^\\'])'/' '/g;
    $s =~ s{/\*.*?\*/}{}gs;
    $s =~ s{//[^\n]*}{}g;
    return $s;
}

# `a::{b, c::{d, e}}` -> (`a::b`, `a::c::d`, `a::c::e`).
sub expand {
    my ($tree) = @_;
    $tree =~ s/\s+as\s+\w+//g;
    $tree =~ s/\s+//g;
    return ($tree) unless $tree =~ /^(.*?)\{(.*)\}$/s;
    my ($prefix, $inner) = ($1, $2);
    my @parts;
    my ($depth, $cur) = (0, '');
    for my $c (split //, $inner) {
        $depth++ if $c eq '{';
        $depth-- if $c eq '}';
        if ($c eq ',' && $depth == 0) {
            push @parts, $cur;
            $cur = '';
        } else {
            $cur .= $c;
        }
    }
    push @parts, $cur;
    return map { expand("$prefix$_") } grep { length } @parts;
}

# The longest known module a path starts with, from module `$m`; undef for
# other crates.
sub resolve {
    my ($m, $path, $modules) = @_;
    my @seg = split /::/, $path;
    my @base;
    if ($seg[0] eq 'crate') {
        shift @seg;
    } elsif ($seg[0] eq 'super' || $seg[0] eq 'self') {
        @base = grep { length } split /::/, $m;
        while (@seg && ($seg[0] eq 'super' || $seg[0] eq 'self')) {
            pop @base if shift(@seg) eq 'super';
        }
    } else {
        return undef;
    }
    my @full = (@base, @seg);
    for (my $n = @full; $n >= 0; $n--) {
        my $cand = join '::', @full[0 .. $n - 1];
        return $cand if exists $modules->{$cand};
    }
    return undef;
}

# Whether one module is the other or holds it.
sub related {
    my ($a, $b) = @_;
    return 1 if $a eq $b || $a eq '' || $b eq '';
    return index("$b\::", "$a\::") == 0 || index("$a\::", "$b\::") == 0;
}
