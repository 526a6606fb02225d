/*
 * loop.c - `plumb loop`, a peer of util-linux losetup on libplumb's loop
 * module.
 *
 * The options, messages' sense, output formats and exit codes are
 * losetup's, so scripts written for it keep working: attach (-f, DEVICE
 * FILE), show (DEVICE, -a, -j), list (-l with -O/--output-all/-n/--raw/-J),
 * detach (-d, -D), resize (-c) and direct I/O changes.  The JSON has
 * losetup's keys, types and nesting; the one difference is that the
 * "maj:min" strings carry no alignment padding.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <plumb/loop.h>
#include <plumb/plumb.h>

#include "cmd.h"

enum col {
	C_NAME,
	C_AUTOCLEAR,
	C_BACK_FILE,
	C_BACK_INO,
	C_BACK_MAJMIN,
	C_MAJMIN,
	C_OFFSET,
	C_PARTSCAN,
	C_RO,
	C_SIZELIMIT,
	C_DIO,
	C_LOGSEC,
	NCOLS
};

enum kind { K_STR, K_NUM, K_BOOL };

static const struct {
	const char *name;
	enum kind kind;
	const char *help;
} cols[NCOLS] = {
        [C_NAME] = {"NAME", K_STR, "loop device name"},
        [C_AUTOCLEAR] = {"AUTOCLEAR", K_BOOL, "autoclear flag set"},
        [C_BACK_FILE] = {"BACK-FILE", K_STR, "device backing file"},
        [C_BACK_INO] = {"BACK-INO", K_NUM, "backing file inode number"},
        [C_BACK_MAJMIN] = {"BACK-MAJ:MIN", K_STR, "backing file major:minor device number"},
        [C_MAJMIN] = {"MAJ:MIN", K_STR, "loop device major:minor number"},
        [C_OFFSET] = {"OFFSET", K_NUM, "offset from the beginning"},
        [C_PARTSCAN] = {"PARTSCAN", K_BOOL, "partscan flag set"},
        [C_RO] = {"RO", K_BOOL, "read-only device"},
        [C_SIZELIMIT] = {"SIZELIMIT", K_NUM, "size limit of the file in bytes"},
        [C_DIO] = {"DIO", K_BOOL, "access backing file with direct-io"},
        [C_LOGSEC] = {"LOG-SEC", K_NUM, "logical sector size in bytes"},
};

static const enum col default_cols[] = {C_NAME, C_SIZELIMIT, C_OFFSET, C_AUTOCLEAR,
                                        C_RO,   C_BACK_FILE, C_DIO,    C_LOGSEC};

struct opts {
	bool all, list, find, show, partscan, read_only, nooverlap, noheadings, raw, json, verbose,
	        detach, detach_all, set_capacity, has_offset;
	int dio; /* -1 unset, 0 off, 1 on */
	const char *assoc;
	uint64_t offset, sizelimit;
	unsigned sector_size;
	enum col out[NCOLS * 4];
	size_t nout;
};

static void usage(FILE *out)
{
	fprintf(out,
	        "Usage:\n"
	        " plumb loop [options] [<loopdev>]\n"
	        " plumb loop [options] -f | <loopdev> <file>\n\n"
	        "Set up and control loop devices (a peer of losetup).\n\n"
	        "Options:\n"
	        " -a, --all                     list all used devices\n"
	        " -d, --detach <loopdev>...     detach one or more devices\n"
	        " -D, --detach-all              detach all used devices\n"
	        " -f, --find                    find first unused device\n"
	        " -c, --set-capacity <loopdev>  resize the device\n"
	        " -j, --associated <file>       list all devices associated with <file>\n"
	        " -L, --nooverlap               avoid possible conflict between devices\n\n"
	        " -o, --offset <num>            start at offset <num> into file\n"
	        "     --sizelimit <num>         device is limited to <num> bytes of the file\n"
	        " -b, --sector-size <num>       set the logical sector size to <num>\n"
	        " -P, --partscan                create a partitioned loop device\n"
	        " -r, --read-only               set up a read-only loop device\n"
	        "     --direct-io[=<on|off>]    open backing file with O_DIRECT\n"
	        "     --show                    print device name after setup (with -f)\n"
	        " -v, --verbose                 verbose mode\n\n"
	        " -J, --json                    use JSON --list output format\n"
	        " -l, --list                    list info about all or specified (default)\n"
	        " -n, --noheadings              don't print headings for --list output\n"
	        " -O, --output <cols>           specify columns to output for --list\n"
	        "     --output-all              output all columns\n"
	        "     --raw                     use raw --list output format\n\n"
	        " -h, --help                    display this help\n"
	        " -V, --version                 display version\n\nAvailable output columns:\n");
	for (int i = 0; i < NCOLS; i++)
		fprintf(out, " %12s  %s\n", cols[i].name, cols[i].help);
	fprintf(out, "\nSee plumb-loop(1).\n");
}

static bool parse_columns(const char *s, struct opts *o)
{
	char *copy = strdup(s), *save = NULL;
	bool ok = copy != NULL;
	for (char *t = strtok_r(copy, ",", &save); ok && t; t = strtok_r(NULL, ",", &save)) {
		int found = -1;
		for (int i = 0; i < NCOLS; i++)
			if (!strcasecmp(t, cols[i].name))
				found = i;
		if (found < 0) {
			warnx_("unknown column: %s", t);
			ok = false;
		} else if (o->nout < sizeof o->out / sizeof o->out[0]) {
			o->out[o->nout++] = (enum col)found;
		}
	}
	free(copy);
	return ok;
}

/* The text of column @c for @d into @buf (bools as 0/1). */
static const char *cell(const struct plumb_loop_info *d, enum col c, char *buf, size_t len)
{
	switch (c) {
	case C_NAME:
		return d->name;
	case C_BACK_FILE:
		return d->back_file;
	case C_AUTOCLEAR:
		return d->autoclear ? "1" : "0";
	case C_PARTSCAN:
		return d->partscan ? "1" : "0";
	case C_RO:
		return d->read_only ? "1" : "0";
	case C_DIO:
		return d->direct_io ? "1" : "0";
	case C_BACK_INO:
		snprintf(buf, len, "%llu", (unsigned long long)d->back_ino);
		break;
	case C_BACK_MAJMIN:
		snprintf(buf, len, "%u:%u", d->back_major, d->back_minor);
		break;
	case C_MAJMIN:
		snprintf(buf, len, "%u:%u", d->major, d->minor);
		break;
	case C_OFFSET:
		snprintf(buf, len, "%llu", (unsigned long long)d->offset);
		break;
	case C_SIZELIMIT:
		snprintf(buf, len, "%llu", (unsigned long long)d->sizelimit);
		break;
	case C_LOGSEC:
		snprintf(buf, len, "%u", d->log_sec);
		break;
	default:
		buf[0] = 0;
	}
	return buf;
}

/* The listing: every device first collected, since the table aligns. */
struct rows {
	struct plumb_loop_info *v;
	size_t n, cap;
};

static int collect(const struct plumb_loop_info *info, void *arg)
{
	struct rows *r = arg;
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 8;
		struct plumb_loop_info *v = realloc(r->v, cap * sizeof *v);
		if (!v)
			return -ENOMEM;
		r->v = v;
		r->cap = cap;
	}
	r->v[r->n++] = *info;
	return 0;
}

static void json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static void print_json(const struct opts *o, const struct rows *r)
{
	char buf[64];
	printf("{\n   \"loopdevices\": [\n");
	for (size_t i = 0; i < r->n; i++) {
		printf("      {\n");
		for (size_t k = 0; k < o->nout; k++) {
			enum col c = o->out[k];
			char key[32];
			snprintf(key, sizeof key, "%s", cols[c].name);
			for (char *p = key; *p; p++)
				*p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
			printf("         \"%s\": ", key);
			const char *v = cell(&r->v[i], c, buf, sizeof buf);
			if (cols[c].kind == K_BOOL)
				printf("%s", *v == '1' ? "true" : "false");
			else if (cols[c].kind == K_NUM)
				printf("%s", v);
			else
				json_string(v);
			printf("%s\n", k + 1 < o->nout ? "," : "");
		}
		printf("      }%s\n", i + 1 < r->n ? "," : "");
	}
	printf("   ]\n}\n");
}

/* --raw: values separated by one space, blanks and backslashes hex-escaped. */
static void raw_value(const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c <= ' ' || c == '\\' || c == '"' || c >= 0x7f)
			printf("\\x%02x", c);
		else
			putchar(c);
	}
}

static void print_table(const struct opts *o, const struct rows *r)
{
	char buf[64];
	size_t w[NCOLS * 4];
	for (size_t k = 0; k < o->nout; k++) {
		w[k] = strlen(cols[o->out[k]].name);
		for (size_t i = 0; i < r->n; i++) {
			size_t l = strlen(cell(&r->v[i], o->out[k], buf, sizeof buf));
			w[k] = l > w[k] ? l : w[k];
		}
	}
	for (size_t i = o->noheadings ? 1 : 0; i <= r->n; i++) {
		for (size_t k = 0; k < o->nout; k++) {
			enum col c = o->out[k];
			const char *v =
			        i == 0 ? cols[c].name : cell(&r->v[i - 1], c, buf, sizeof buf);
			bool last = k + 1 == o->nout;
			if (o->raw) {
				raw_value(v);
				if (!last)
					putchar(' ');
			} else if (cols[c].kind != K_STR) {
				printf("%*s%s", (int)w[k], v, last ? "" : " ");
			} else {
				printf("%-*s%s", last ? 0 : (int)w[k], v, last ? "" : " ");
			}
		}
		putchar('\n');
	}
}

/* -l / -J / -O: the table of @devs (all attached ones when none named). */
static int list(struct opts *o, char **devs, int ndevs)
{
	struct rows r = {0};
	int st = 0;
	if (o->nout == 0)
		for (size_t k = 0; k < sizeof default_cols / sizeof default_cols[0]; k++)
			o->out[o->nout++] = default_cols[k];
	int e = 0;
	if (o->assoc) {
		e = plumb_loop_find_by_file(o->assoc, o->has_offset, o->offset, collect, &r);
		if (e == -ENOENT) /* losetup: an unknown file has no devices */
			e = 0;
	} else if (ndevs) {
		for (int i = 0; i < ndevs; i++) {
			struct plumb_loop_info info;
			int x = plumb_loop_info(devs[i], &info);
			if (x == 0 && !info.attached)
				x = -ENXIO;
			if (x < 0) {
				warnx_("%s: %s", devs[i],
				       x == -ENXIO ? "not attached" : plumb_loop_errmsg());
				st = 1;
				continue;
			}
			collect(&info, &r);
		}
	} else {
		e = plumb_loop_foreach(collect, &r);
	}
	if (e < 0) {
		warnx_("%s", plumb_loop_errmsg());
		free(r.v);
		return 1;
	}
	if (o->json && r.n)
		print_json(o, &r);
	else if (o->json && !o->assoc && !ndevs) /* losetup's empty list, blank line and all */
		printf("{\n   \"loopdevices\": [\n\n   ]\n}\n");
	else if (r.n) /* losetup prints no header over an empty table */
		print_table(o, &r);
	free(r.v);
	return st;
}

/* losetup's one-line form: "/dev/loop0: [65024]:123 (/file), offset 1" */
static int show_line(const struct plumb_loop_info *d, void *arg)
{
	(void)arg;
	/* The kernel's encoding of the backing file's device, as losetup shows it. */
	unsigned dev =
	        (d->back_minor & 0xff) | (d->back_major << 8) | ((d->back_minor & ~0xffu) << 12);
	printf("%s: [%04u]:%llu (%s)", d->name, dev, (unsigned long long)d->back_ino, d->back_file);
	if (d->offset)
		printf(", offset %llu", (unsigned long long)d->offset);
	if (d->sizelimit)
		printf(", sizelimit %llu", (unsigned long long)d->sizelimit);
	putchar('\n');
	return 0;
}

static int show_dev(const char *dev)
{
	struct plumb_loop_info info;
	int r = plumb_loop_info(dev, &info);
	if (r == 0 && !info.attached) {
		warnx_("%s: not attached", dev);
		return 1;
	}
	if (r < 0) {
		warnx_("%s", plumb_loop_errmsg());
		return 1;
	}
	show_line(&info, NULL);
	return 0;
}

struct overlap {
	const struct opts *o;
	char dev[32];
	bool same, conflict;
};

static int check_overlap(const struct plumb_loop_info *d, void *arg)
{
	struct overlap *ov = arg;
	const struct opts *o = ov->o;
	uint64_t a0 = o->offset, a1 = o->sizelimit ? a0 + o->sizelimit : UINT64_MAX;
	uint64_t b0 = d->offset, b1 = d->sizelimit ? b0 + d->sizelimit : UINT64_MAX;
	if (a0 == b0 && o->sizelimit == d->sizelimit) {
		snprintf(ov->dev, sizeof ov->dev, "%s", d->name);
		ov->same = true;
		return 1;
	}
	if (a0 < b1 && b0 < a1)
		ov->conflict = true;
	return 0;
}

static int attach(const struct opts *o, const char *dev, const char *file)
{
	struct plumb_loop_config cfg = {.offset = o->offset,
	                                .sizelimit = o->sizelimit,
	                                .sector_size = o->sector_size,
	                                .read_only = o->read_only,
	                                .partscan = o->partscan,
	                                .direct_io = o->dio == 1};
	if (o->nooverlap) {
		struct overlap ov = {.o = o};
		plumb_loop_find_by_file(file, false, 0, check_overlap, &ov);
		if (ov.same) {
			if (o->show)
				printf("%s\n", ov.dev);
			return 0;
		}
		if (ov.conflict) {
			warnx_("%s: overlapping loop device exists", file);
			return 1;
		}
	}
	char got[32];
	int r = dev ? plumb_loop_attach_to(dev, file, &cfg)
	            : plumb_loop_attach(file, &cfg, got, sizeof got);
	if (r < 0) {
		warnx_("%s", plumb_loop_errmsg());
		return 1;
	}
	if (!dev)
		dev = got;
	if (o->verbose)
		fprintf(stderr, "%s: attached %s\n", dev, file);
	if (o->show)
		printf("%s\n", dev);
	return 0;
}

static int fail_msg(void)
{
	warnx_("%s", plumb_loop_errmsg());
	return 1;
}

enum { OPT_SIZELIMIT = 256, OPT_SHOW, OPT_DIO, OPT_OUTPUT_ALL, OPT_RAW };

static const struct option longopts[] = {
        {"all", no_argument, NULL, 'a'},
        {"set-capacity", required_argument, NULL, 'c'},
        {"detach", required_argument, NULL, 'd'},
        {"detach-all", no_argument, NULL, 'D'},
        {"find", no_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {"associated", required_argument, NULL, 'j'},
        {"json", no_argument, NULL, 'J'},
        {"list", no_argument, NULL, 'l'},
        {"nooverlap", no_argument, NULL, 'L'},
        {"noheadings", no_argument, NULL, 'n'},
        {"offset", required_argument, NULL, 'o'},
        {"output", required_argument, NULL, 'O'},
        {"output-all", no_argument, NULL, OPT_OUTPUT_ALL},
        {"sizelimit", required_argument, NULL, OPT_SIZELIMIT},
        {"sector-size", required_argument, NULL, 'b'},
        {"partscan", no_argument, NULL, 'P'},
        {"read-only", no_argument, NULL, 'r'},
        {"direct-io", optional_argument, NULL, OPT_DIO},
        {"raw", no_argument, NULL, OPT_RAW},
        {"show", no_argument, NULL, OPT_SHOW},
        {"verbose", no_argument, NULL, 'v'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
};

static int parse(int argc, char **argv, struct opts *o, const char **cap, const char **det)
{
	int c;
	uint64_t v;
	while ((c = getopt_long(argc, argv, "ab:c:d:Dfhj:JlLno:O:PrvV", longopts, NULL)) != -1) {
		switch (c) {
		case 'a':
			o->all = true;
			break;
		case 'b':
			if (!parse_size(optarg, &v) || v > 65536) {
				warnx_("invalid sector size: '%s'", optarg);
				return 1;
			}
			o->sector_size = (unsigned)v;
			break;
		case 'c':
			o->set_capacity = true;
			*cap = optarg;
			break;
		case 'd':
			o->detach = true;
			*det = optarg;
			break;
		case 'D':
			o->detach_all = true;
			break;
		case 'f':
			o->find = true;
			break;
		case 'h':
			usage(stdout);
			return -1;
		case 'j':
			o->assoc = optarg;
			break;
		case 'J':
			o->json = true;
			o->list = true;
			break;
		case 'l':
			o->list = true;
			break;
		case 'L':
			o->nooverlap = true;
			break;
		case 'n':
			o->noheadings = true;
			break;
		case 'o':
			if (!parse_size(optarg, &o->offset)) {
				warnx_("invalid offset: '%s'", optarg);
				return 1;
			}
			o->has_offset = true;
			break;
		case 'O':
			o->list = true;
			if (!parse_columns(optarg, o))
				return 1;
			break;
		case OPT_OUTPUT_ALL:
			o->list = true;
			for (int i = 0; i < NCOLS; i++)
				o->out[o->nout++] = (enum col)i;
			break;
		case OPT_SIZELIMIT:
			if (!parse_size(optarg, &o->sizelimit)) {
				warnx_("invalid size: '%s'", optarg);
				return 1;
			}
			break;
		case 'P':
			o->partscan = true;
			break;
		case 'r':
			o->read_only = true;
			break;
		case OPT_DIO:
			if (!optarg || !strcmp(optarg, "on") || !strcmp(optarg, "1"))
				o->dio = 1;
			else if (!strcmp(optarg, "off") || !strcmp(optarg, "0"))
				o->dio = 0;
			else {
				warnx_("unsupported --direct-io argument: '%s'", optarg);
				return 1;
			}
			break;
		case OPT_RAW:
			o->raw = true;
			o->list = true;
			break;
		case OPT_SHOW:
			o->show = true;
			break;
		case 'v':
			o->verbose = true;
			break;
		case 'V':
			printf("plumb loop %s\n", plumb_version());
			return -1;
		default:
			fprintf(stderr, "Try 'plumb loop --help' for more information.\n");
			return 1;
		}
	}
	return 0;
}

int cmd_loop(int argc, char **argv)
{
	struct opts o = {.dio = -1};
	const char *cap = NULL, *det = NULL;
	argv[0] = (char *)prog_name; /* getopt's messages name "plumb loop" */
	int r = parse(argc, argv, &o, &cap, &det);
	if (r)
		return r < 0 ? 0 : r;
	char **args = argv + optind;
	int nargs = argc - optind;

	if (o.detach) {
		int st = plumb_loop_detach(det) < 0 ? fail_msg() : 0;
		for (int i = 0; i < nargs; i++)
			if (plumb_loop_detach(args[i]) < 0)
				st = fail_msg();
		return st;
	}
	if (o.detach_all) {
		return plumb_loop_detach_all() < 0 ? fail_msg() : 0;
	}
	if (o.set_capacity)
		return plumb_loop_set_capacity(cap) < 0 ? fail_msg() : 0;
	if (o.find) {
		if (nargs == 1)
			return attach(&o, NULL, args[0]);
		if (nargs > 1) {
			warnx_("too many arguments");
			return 1;
		}
		if (o.show || !o.list) {
			int n = plumb_loop_find_free();
			if (n < 0)
				return fail_msg();
			printf("/dev/loop%d\n", n);
			return 0;
		}
	}
	if (nargs == 2) {
		return attach(&o, args[0], args[1]);
	}
	if (nargs == 1 && o.dio >= 0 && !o.list)
		return plumb_loop_set_direct_io(args[0], o.dio) < 0 ? fail_msg() : 0;
	if (o.list || (nargs == 0 && !o.all && !o.assoc))
		return list(&o, args, nargs);
	if (o.all)
		return plumb_loop_foreach(show_line, NULL) < 0 ? fail_msg() : 0;
	if (o.assoc) {
		int n = plumb_loop_find_by_file(o.assoc, o.has_offset, o.offset, show_line, NULL);
		return n < 0 && n != -ENOENT ? fail_msg() : 0;
	}
	if (nargs == 1)
		return show_dev(args[0]);
	warnx_("bad usage");
	fprintf(stderr, "Try 'plumb loop --help' for more information.\n");
	return 1;
}
