/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sealsync: a model of the sync protocol over time (issue #9).
 * doc/SYNC.md "The protocol model" says what it covers and what it abstracts.
 *
 * Three devices: ADM (admin: writes, removes XD, writes checkpoints), NEWD (a
 * writer that may join late from a checkpoint) and XD (a writer that ADM
 * removes; once removed it is an attacker with a store credential: it keeps
 * writing and may equivocate).  Files are NF slots; a version is the journal
 * entry that wrote it (file, Lamport, version vector).  The store holds every
 * published object and may hide, delay, reorder or replay any of them: a
 * device reads any object in any order, or never; a replayed object is the
 * same bytes (hash-named), which the marks make a no-op.
 *
 * Variants (-DVARIANT=n):
 *   0 OLD: the code before issue #9: a removed device's entries past the
 *          cutoff are refused only once the removal is known; what was applied
 *          before stays (the bug); checkpoints are not checked against cutoffs.
 *   1 DOC: C2/C3 as first written in doc/SYNC.md: a learned removal is applied
 *          backwards from the device's own history; a checkpoint past a known
 *          cutoff is neither written nor used.
 *   2 NEW: DOC plus the refinement the model found (finding 1 of "The
 *          protocol model"): a device whose state came from a checkpoint whose
 *          vector passes a cutoff it learns later drops that base and replays
 *          the journals from zero.
 * C8 (doc/SYNC.md, finding 2): -DFORKCMP=1 (default) compares as C8 says:
 * where vectors and (Lamport, author) disagree, the versions are concurrent;
 * -DFORKCMP=0 is rule 2 by the vectors alone (the equiv-vv-old check).
 * R5 (doc/SYNC.md): -DDEMOTE=1 makes ADM's membership change a demotion of XD
 * to reader with a cutoff instead of a removal (krm[d]: d's fold has it), and
 * -DPROMOTE=1 (the default with DEMOTE) lets ADM promote XD again later,
 * naming XD's head on the store (resume): XD's entries in (cutoff, resume]
 * are void forever (walked, never applied), those after resume count.
 * -DVOIDBUG=1 re-opens the void range at the promotion (the bug the R5
 * check must catch).  C9: -DC9=1 (the default from VARIANT 2) -- a fork at
 * or below the cutoff is decided by the chain the cutoff names, so it holds
 * nothing once the device folded the cut.
 * Other switches: -DEQUIV=0/1 (XD forks its journal), -DCKPT=0/1
 * (checkpoints), -DLOWCUT=0/1 (a cutoff below the admin's mark), -DNF=n
 * (files), -DWX=n (XD's entries), -DNO_P1/2/3 (leave a property out).
 * The properties P1-P3 are asserted after every step (check()); the printf
 * lines ("MSC:") make a trail readable: spin -t sync.pml | grep MSC.
 */
#ifndef VARIANT
#define VARIANT 2
#endif
#ifndef NF
#define NF 1
#endif
#ifndef WX /* entries XD may write */
#define WX 2
#endif
#ifndef EQUIV /* XD may publish a second entry at one seq */
#define EQUIV 1
#endif
#ifndef LOWCUT /* the admin may set a cutoff below its own mark (revoke --cutoff) */
#define LOWCUT 1
#endif
#ifndef CKPT /* checkpoints and bootstrap modelled */
#define CKPT 1
#endif
#ifndef FORKCMP /* C8: vectors that contradict (Lamport, author) mean concurrent */
#define FORKCMP 1
#endif
#ifndef DEMOTE /* R5: the cut is a demotion to reader, not a removal */
#define DEMOTE 0
#endif
#ifndef PROMOTE /* R5: ... and a later promotion (resume) may re-open XD's journal */
#define PROMOTE DEMOTE
#endif
#ifndef VOIDBUG /* the promotion re-opens the void range too (wrong: must fail P2) */
#define VOIDBUG 0
#endif
#ifndef C9 /* a fork at or below the cutoff is decided by it: it holds nothing */
#define C9 (VARIANT >= 2)
#endif

#define ND 3
#define ADM 0
#define NEWD 1
#define XD 2
#define MAXW 3 /* slots per author; XD's equivocating twin uses the last */
#define NE (ND * MAXW)
#define EID(a, vs) ((a) * MAXW + (vs) - 1)
#define TWIN EID(XD, MAXW)
#define AUTH(ve) ((ve) / MAXW)

/* ---- the store: published objects ---- */
byte nw[ND];          /* entries published per author (seq 1..nw) */
byte e_file[NE];
byte e_lam[NE];
byte e_vv[NE * ND];   /* e_vv[e*ND + a] */
bool twin_pub;        /* XD's second entry at seq twin_seq */
byte twin_seq;
bool rm_pub;          /* ADM's REMOVE_DEVICE of XD */
byte cutoff;          /* its cutoff seq ... */
bool cut_twin;        /* ... and whether the entry it names there is XD's twin */
bool ck_pub[ND];      /* one checkpoint per writer */
bool ck_rm[ND];       /* its member head includes the removal */
byte ck_vec[ND * ND];
byte ck_win[ND * NF];
byte ck_mvv[ND * NF * ND];
short ck_cp[ND * NF];
bool ck_alt[ND];      /* the writer took XD's twin */
bool pr_pub;          /* R5: ADM's promotion of XD (after the demotion) ... */
byte resume;          /* ... naming XD's head on the store then */

/* ---- each device ---- */
byte mk[ND * ND];     /* mk[d*ND + a]: last seq of a applied (seq order, prev links) */
bool krm[ND];         /* the removal (DEMOTE: the demotion) is in d's fold */
bool kpr[ND];         /* R5: the promotion is in d's fold */
bool held[ND];        /* d holds XD's journal (equivocation seen) */
byte alt[ND];         /* which entry d took at twin_seq: 0 the first, 1 the twin */
byte win[ND * NF];    /* current version of each file: entry id + 1, 0 none */
byte mvv[ND * NF * ND]; /* its merged version vector */
short cp[ND * NF];    /* conflict copies: bit e = entry e kept as a copy */
byte lam[ND];         /* Lamport clock */
byte base[ND];        /* 0, or the checkpoint author + 1 the state started from */

hidden byte vi, vj, vk, vt, vf, vw, ve, vge, vle, vs;
hidden byte vok, vc;

/* Entry id of (a, s) as device d took it (the twin if it took the twin). */
#define TAKEN(d, a, vs) (((a) == XD && (vs) == twin_seq && twin_pub && alt[d]) -> TWIN : EID(a, vs))
/*
 * d accepts (a, s), taking the twin at twin_seq when ALT: not past the cutoff
 * of a removal in its fold, and on the chain that ends at the entry the
 * removal names (prev links fix every entry below the cutoff).
 */
#define REOPEN_SPEC(d, vs) (kpr[d] && (vs) > resume) /* R5: after the resume the entries count */
#if VOIDBUG
#define REOPEN(d, vs) (kpr[d]) /* the bug: the void range counts again */
#else
#define REOPEN(d, vs) REOPEN_SPEC(d, vs)
#endif
/* RE: which re-opening (the code's REOPEN, or REOPEN_SPEC for the properties).
 * A fork above the cutoff is decided by nothing (only after a promotion can
 * such an entry count at all). */
#define ACC_BY(d, a, vs, ALT, RE) (!((a) == XD && krm[d] && (((vs) > cutoff && !RE(d, vs)) || \
                          (twin_pub && (vs) == twin_seq && (vs) <= cutoff && (ALT) != cut_twin))))
#define ACC(d, a, vs, ALT) ACC_BY(d, a, vs, ALT, REOPEN)
#define ACCEPTED(d, a, vs) ACC(d, a, vs, alt[d])
/* R5: d walks XD's next entry as void (in (cutoff, resume], the promotion known). */
#define VOID_NEXT(d) (kpr[d] && mk[(d)*ND + XD] + 1 > cutoff && mk[(d)*ND + XD] + 1 <= resume)
/* The seq of a that d counts as accepted (C1's "view"; void entries walked count). */
#define EMK(d, a) (((a) == XD && krm[d] && !kpr[d] && mk[(d)*ND + (a)] > cutoff) -> cutoff : mk[(d)*ND + (a)])
/* C9: d folded a cut at or above XD's forked seq: the cut decides the fork. */
#define DECIDED(d) (C9 && krm[d] && twin_seq <= cutoff)

/* Entry A is later than entry B by (Lamport, author): rule 3's winner. */
#define LATER(A, B) (e_lam[A] > e_lam[B] || (e_lam[A] == e_lam[B] && AUTH(A) > AUTH(B)))

/* Applies entry E on device D (doc/SYNC.md "Conflicts" rules 2 and 3, C8). */
inline apply(D, E)
{
	vf = e_file[E];
	vw = win[D * NF + vf];
	vge = 1;
	vle = 1;
	vj = 0;
	do
	:: vj < ND ->
		if
		:: e_vv[E * ND + vj] < mvv[(D * NF + vf) * ND + vj] -> vge = 0
		:: e_vv[E * ND + vj] > mvv[(D * NF + vf) * ND + vj] -> vle = 0
		:: else -> skip
		fi;
		vj++
	:: else -> break
	od;
	vc = 0;
#if FORKCMP
	/*
	 * C8: an honest version is later (Lamport, author) than every version
	 * its vector counts.  A vector that says otherwise counts another
	 * branch of a forked journal (finding 2): the two are concurrent.
	 * Older or equal by the vectors yet later than the current version
	 * (whose own vector counts it, so it is not a merge that counted it):
	 * concurrent; newer by the vectors yet not later: concurrent.
	 */
	if
	:: vw > 0 && vle && LATER(E, vw - 1) ->
		vc = 1;
		vj = 0;
		do
		:: vj < ND -> vc = vc && e_vv[E * ND + vj] <= e_vv[(vw - 1) * ND + vj]; vj++
		:: else -> break
		od
	:: vw > 0 && !vle && vge && !LATER(E, vw - 1) -> vc = 1
	:: else -> skip
	fi;
#endif
	if
	:: vle && !vc -> skip /* older or equal: ignored */
	:: !vle && vge && !vc -> win[D * NF + vf] = E + 1
	:: (!vle && !vge) || vc ->
		/* concurrent: higher (Lamport, author) wins, the loser is a copy */
		if
		:: LATER(E, vw - 1) ->
			cp[D * NF + vf] = cp[D * NF + vf] | (1 << (vw - 1));
			win[D * NF + vf] = E + 1
		:: else -> cp[D * NF + vf] = cp[D * NF + vf] | (1 << E)
		fi
	fi;
	vj = 0;
	do
	:: vj < ND ->
		if
		:: e_vv[E * ND + vj] > mvv[(D * NF + vf) * ND + vj] -> mvv[(D * NF + vf) * ND + vj] = e_vv[E * ND + vj]
		:: else -> skip
		fi;
		vj++
	:: else -> break
	od;
	if
	:: e_lam[E] > lam[D] -> lam[D] = e_lam[E]
	:: else -> skip
	fi
}

/* Rebuilds D's files from its base checkpoint and the entries it accepted (C1). */
inline rebuild(D)
{
	vk = 0;
	do
	:: vk < NF ->
		if
		:: base[D] > 0 ->
			win[D * NF + vk] = ck_win[(base[D] - 1) * NF + vk];
			cp[D * NF + vk] = ck_cp[(base[D] - 1) * NF + vk]
		:: else -> win[D * NF + vk] = 0; cp[D * NF + vk] = 0
		fi;
		vj = 0;
		do
		:: vj < ND ->
			mvv[(D * NF + vk) * ND + vj] = (base[D] > 0 -> ck_mvv[((base[D] - 1) * NF + vk) * ND + vj] : 0);
			vj++
		:: else -> break
		od;
		vk++
	:: else -> break
	od;
	vi = 0;
	do
	:: vi < ND ->
		vs = (base[D] > 0 -> ck_vec[(base[D] - 1) * ND + vi] : 0) + 1;
		do
		:: vs <= mk[D * ND + vi] ->
			if
			:: ACCEPTED(D, vi, vs) -> vt = TAKEN(D, vi, vs); apply(D, vt)
			:: else -> skip
			fi;
			vs++
		:: else -> break
		od;
		vi++
	:: else -> break
	od
}

/* D writes file F: a new version that descends from what D holds. */
inline write(D, F)
{
	printf("MSC: dev %d writes file %d as entry (%d,%d)\n", D, F, D, nw[D] + 1);
	nw[D]++;
	ve = EID(D, nw[D]);
	e_file[ve] = F;
	lam[D]++;
	e_lam[ve] = lam[D];
	vj = 0;
	do
	:: vj < ND -> e_vv[ve * ND + vj] = mvv[(D * NF + F) * ND + vj]; vj++
	:: else -> break
	od;
	e_vv[ve * ND + D]++;
	mk[D * ND + D] = nw[D];
	apply(D, ve);
	check()
}

/* XD publishes a second, different entry at seq S (a forked journal). */
inline equivocate(S, F)
{
	printf("MSC: dev 2 publishes a second entry at seq %d\n", S);
	twin_pub = 1;
	twin_seq = S;
	e_file[TWIN] = F;
	e_lam[TWIN] = e_lam[EID(XD, S)];
	vj = 0;
	do
	:: vj < ND -> e_vv[TWIN * ND + vj] = e_vv[EID(XD, S) * ND + vj]; vj++
	:: else -> break
	od;
	e_lam[TWIN] = e_lam[TWIN] + 1; /* another content: make it differ */
	check()
}

/* D pulls the next entry of A (the store showed it; seq order, prev link). */
inline pull(D, A, ALT)
{
	printf("MSC: dev %d applies entry (%d,%d), twin %d\n", D, A, mk[D * ND + A] + 1, ALT);
	vs = mk[D * ND + A] + 1;
	mk[D * ND + A] = vs;
	alt[D] = (A == XD && vs == twin_seq && twin_pub -> ALT : alt[D]);
	vt = TAKEN(D, A, vs);
	apply(D, vt);
	check()
}

/*
 * D folds the removal in (ADM when it makes it, NEWD at its next membership
 * refresh).  From VARIANT 1 on it is applied backwards (C2): an entry of XD
 * that the removal refuses is taken out, and the files are rebuilt from what
 * is accepted.  VARIANT 2 also drops a checkpoint base that holds such an entry
 * and replays the journals from zero.
 */
inline fold_removal(D)
{
#if DEMOTE
	printf("MSC: dev %d folds in the demotion of dev 2 to reader, cutoff %d\n", D, cutoff);
#else
	printf("MSC: dev %d folds in the removal of dev 2, cutoff %d\n", D, cutoff);
#endif
	krm[D] = 1;
#if VARIANT >= 1
	if
	:: twin_pub && alt[D] != cut_twin && mk[D * ND + XD] >= twin_seq && twin_seq <= cutoff ->
		/* took the other entry at twin_seq: back to before it, take the named one */
		mk[D * ND + XD] = twin_seq - 1;
		alt[D] = 0
	:: else -> skip
	fi;
#endif
#if VARIANT == 2
	if
	:: base[D] > 0 && (ck_vec[(base[D] - 1) * ND + XD] > cutoff ||
	   (twin_pub && ck_alt[base[D] - 1] != cut_twin && ck_vec[(base[D] - 1) * ND + XD] >= twin_seq)) ->
		base[D] = 0;
		alt[D] = 0;
		vj = 0;
		do
		:: vj < ND -> mk[D * ND + vj] = (vj == D -> mk[D * ND + vj] : 0); vj++
		:: else -> break
		od
	:: else -> skip
	fi;
#endif
#if VARIANT >= 1
	rebuild(D);
#endif
	check()
}

/* R5: ADM promotes XD again, naming its head on the store; D folds it in. */
inline promote()
{
	printf("MSC: dev 0 promotes dev 2 again, resume %d\n", nw[XD]);
	pr_pub = 1;
	resume = nw[XD];
	kpr[ADM] = 1;
	rebuild(ADM);
	check()
}

inline fold_promotion(D)
{
	printf("MSC: dev %d folds in the promotion of dev 2, resume %d\n", D, resume);
	kpr[D] = 1;
	rebuild(D);
	check()
}

/* R5: D walks XD's next entry as void: the mark moves, nothing is applied. */
inline walk_void(D)
{
	printf("MSC: dev %d walks entry (2,%d) as void\n", D, mk[D * ND + XD] + 1);
	mk[D * ND + XD] = mk[D * ND + XD] + 1;
	check()
}

/* ADM removes (DEMOTE: demotes) XD with cutoff C (any of XD's seqs around ADM's mark). */
inline remove(C)
{
	rm_pub = 1;
	cutoff = C;
	cut_twin = twin_pub && alt[ADM] && C == twin_seq && mk[ADM * ND + XD] == twin_seq;
	fold_removal(ADM)
}

/* W writes its checkpoint: its vector and its files (C3). */
inline checkpoint(W)
{
	printf("MSC: dev %d writes a checkpoint\n", W);
	ck_pub[W] = 1;
	ck_rm[W] = krm[W];
	ck_alt[W] = alt[W];
	vj = 0;
	do
	:: vj < ND -> ck_vec[W * ND + vj] = mk[W * ND + vj]; vj++
	:: else -> break
	od;
	vk = 0;
	do
	:: vk < NF ->
		ck_win[W * NF + vk] = win[W * NF + vk];
		ck_cp[W * NF + vk] = cp[W * NF + vk];
		vj = 0;
		do
		:: vj < ND -> ck_mvv[(W * NF + vk) * ND + vj] = mvv[(W * NF + vk) * ND + vj]; vj++
		:: else -> break
		od;
		vk++
	:: else -> break
	od;
	check()
}

/* C3 as the writer checks it: nothing past a cutoff in its fold. */
#define CK_WRITABLE(W) (!ck_pub[W] && (VARIANT == 0 || !krm[W] || mk[(W)*ND + XD] <= cutoff))

/*
 * NEWD (no marks at all) may start from W's checkpoint ("Bootstrap" step 2):
 * the author not removed in its fold, the checkpoint's member head in its
 * fold, (C3) no mark past a cutoff in its fold, and (step 3) no other entry
 * on the store at the checkpoint's mark of XD (checkpoint-fork).
 */
#define FRESH (mk[NEWD * ND + 0] == 0 && mk[NEWD * ND + 1] == 0 && mk[NEWD * ND + 2] == 0 && base[NEWD] == 0)
#define CK_USABLE(W) (ck_pub[W] && FRESH && !(krm[NEWD] && (W) == XD) && (ck_rm[W] <= krm[NEWD]) && \
                      (VARIANT == 0 || !krm[NEWD] || ck_vec[(W)*ND + XD] <= cutoff) && \
                      !(twin_pub && ck_vec[(W)*ND + XD] == twin_seq))

inline bootstrap(W)
{
	printf("MSC: dev 1 bootstraps from the checkpoint of dev %d\n", W);
	base[NEWD] = W + 1;
	alt[NEWD] = ck_alt[W];
	rebuild(NEWD); /* the base alone: no marks yet */
	vj = 0;
	do
	:: vj < ND -> mk[NEWD * ND + vj] = ck_vec[W * ND + vj]; vj++
	:: else -> break
	od;
	vk = 0;
	do
	:: vk < NF ->
		if
		:: win[NEWD * NF + vk] > 0 && e_lam[win[NEWD * NF + vk] - 1] > lam[NEWD] ->
			lam[NEWD] = e_lam[win[NEWD * NF + vk] - 1]
		:: else -> skip
		fi;
		vk++
	:: else -> break
	od;
	check()
}

/* ---- the properties ---- */

/* Entry id T+1 (as in win) is XD's and not accepted under D's fold (removal or
 * demotion, and promotion: R5). */
#define SEQ_OF(T) ((((T) - 1) == TWIN) -> twin_seq : (((T) - 1) % MAXW + 1))
#define REFUSED(D, T) ((T) > 0 && AUTH((T) - 1) == XD && \
                       !ACC_BY(D, XD, SEQ_OF(T), ((T) - 1) == TWIN, REOPEN_SPEC))

/* P2 (C2, C3, R5): no entry the removal or demotion refuses is current or a copy on a
 * device that knows it (after a promotion: no void entry). */
inline check_cutoff(D)
{
	if
	:: krm[D] ->
		vk = 0;
		do
		:: vk < NF ->
			assert(!REFUSED(D, win[D * NF + vk]));
			vt = 0;
			do
			:: vt < NE -> assert(!((cp[D * NF + vk] & (1 << vt)) && REFUSED(D, vt + 1))); vt++
			:: else -> break
			od;
			vk++
		:: else -> break
		od
	:: else -> skip
	fi
}

/* P3 (D1): every honest entry D accepted is current, a copy, or seen by one that is. */
inline check_kept(D)
{
	vi = 0;
	do
	:: vi < 2 -> /* the honest authors ADM and NEWD */
		vs = 1;
		do
		:: vs <= mk[D * ND + vi] ->
			ve = EID(vi, vs);
			vf = e_file[ve];
			vok = 0;
			vt = 0;
			do
			:: vt < NE ->
				if
				:: vt + 1 == win[D * NF + vf] || (cp[D * NF + vf] & (1 << vt)) ->
					vge = 1;
					vj = 0;
					do
					:: vj < ND -> vge = vge && e_vv[vt * ND + vj] >= e_vv[ve * ND + vj]; vj++
					:: else -> break
					od;
					vok = vok || vge
				:: else -> skip
				fi;
				vt++
			:: else -> break
			od;
			assert(vok);
			vs++
		:: else -> break
		od;
		vi++
	:: else -> break
	od
}

/*
 * P1 (C1): two devices with the same view -- the same fold and the same
 * accepted entries, the same entry at XD's forked seq while it counts --
 * hold the same files (current version and merged vector).
 */
#define SAMEVIEW(A, B) (krm[A] == krm[B] && kpr[A] == kpr[B] && EMK(A, 0) == EMK(B, 0) && EMK(A, 1) == EMK(B, 1) && \
                        EMK(A, 2) == EMK(B, 2) && \
                        (!twin_pub || alt[A] == alt[B] || EMK(A, XD) < twin_seq || \
                         (krm[A] && twin_seq <= cutoff)))

inline check_same(A, B)
{
	if
	:: SAMEVIEW(A, B) ->
		vk = 0;
		do
		:: vk < NF ->
			assert(win[A * NF + vk] == win[B * NF + vk]);
			vj = 0;
			do
			:: vj < ND -> assert(mvv[(A * NF + vk) * ND + vj] == mvv[(B * NF + vk) * ND + vj]); vj++
			:: else -> break
			od;
			vk++
		:: else -> break
		od
	:: else -> skip
	fi
}

inline check()
{
#ifndef NO_P1
	check_same(ADM, NEWD);
	check_same(ADM, XD);
	check_same(NEWD, XD);
#endif
#ifndef NO_P2
	check_cutoff(ADM);
	check_cutoff(NEWD);
#endif
#ifndef NO_P3
	check_kept(ADM);
	check_kept(NEWD);
#endif
	skip
}

/* ---- the world: every step of every device, in any order ---- */

#define WA 1 /* entries ADM writes */
#define WB 1 /* entries NEWD writes */

/* D may pull A's next entry, taking the twin when ALT (seq order, prev link, standing). */
#define CANPULL(D, A, ALT) (mk[(D)*ND + (A)] < nw[A] && \
        ((A) != XD || ((!held[D] || DECIDED(D)) && !(twin_pub && alt[D] && mk[(D)*ND + XD] == twin_seq) && \
         ((ALT) == 0 || (twin_pub && mk[(D)*ND + XD] + 1 == twin_seq)))) && \
        ACC(D, A, mk[(D)*ND + (A)] + 1, ALT))

#define PULL(D, A) \
	:: d_step { CANPULL(D, A, 0) -> pull(D, A, 0) } \
	:: d_step { (A) == XD && CANPULL(D, A, 1) -> pull(D, A, 1) }

/* R5: D may walk XD's next entry as void (the demotion and the promotion known). */
#define WALK(D) \
	:: d_step { mk[(D)*ND + XD] < nw[XD] && krm[D] && VOID_NEXT(D) && (!held[D] || DECIDED(D)) && \
	            !(twin_pub && alt[D] && mk[(D)*ND + XD] == twin_seq) -> walk_void(D) }

#if NF > 1
#define WRITE(D, N) \
	:: d_step { nw[D] < (N) -> write(D, 0) } \
	:: d_step { nw[D] < (N) -> write(D, 1) }
#else
#define WRITE(D, N) \
	:: d_step { nw[D] < (N) -> write(D, 0) }
#endif

active proctype world()
{
end:
	do
	WRITE(ADM, WA)
	WRITE(NEWD, WB)
	WRITE(XD, WX)
	PULL(ADM, NEWD)
	PULL(ADM, XD)
	PULL(NEWD, ADM)
	PULL(NEWD, XD)
	PULL(XD, ADM)
	PULL(XD, NEWD)
	/* ADM removes XD, cutoff at its mark, at an entry it listed beyond, or
	 * (revoke --cutoff) below its mark: then ADM undoes too */
#if LOWCUT
	:: d_step { !rm_pub && mk[ADM * ND + XD] >= 1 -> remove(mk[ADM * ND + XD] - 1) }
#endif
	:: d_step { !rm_pub -> remove(mk[ADM * ND + XD]) }
	:: d_step { !rm_pub && mk[ADM * ND + XD] + 1 <= nw[XD] -> remove(mk[ADM * ND + XD] + 1) }
	:: d_step { !rm_pub && mk[ADM * ND + XD] + 2 <= nw[XD] -> remove(mk[ADM * ND + XD] + 2) }
	:: d_step { rm_pub && !krm[NEWD] -> fold_removal(NEWD) }
#if PROMOTE
	:: d_step { rm_pub && !pr_pub -> promote() }
	:: d_step { pr_pub && krm[NEWD] && !kpr[NEWD] -> fold_promotion(NEWD) }
	WALK(ADM)
	WALK(NEWD)
#endif
#if EQUIV
	/* XD forks its journal: a second entry at a seq it wrote */
	:: d_step { EQUIV && !twin_pub && nw[XD] >= 1 -> equivocate(1, 0) }
	:: d_step { EQUIV && !twin_pub && nw[XD] >= 2 -> equivocate(2, 0) }
	/* a device that lists both entries at one seq holds XD (equivocation) */
	:: d_step { twin_pub && !held[ADM] && mk[ADM * ND + XD] + 1 >= twin_seq -> printf("MSC: dev 0 holds dev 2 (equivocation)\n"); held[ADM] = 1 }
	:: d_step { twin_pub && !held[NEWD] && mk[NEWD * ND + XD] + 1 >= twin_seq -> printf("MSC: dev 1 holds dev 2 (equivocation)\n"); held[NEWD] = 1 }
#endif
#if CKPT
	:: d_step { CK_WRITABLE(ADM) -> checkpoint(ADM) }
	:: d_step { CK_WRITABLE(XD) -> checkpoint(XD) }
	:: d_step { CK_USABLE(ADM) -> bootstrap(ADM) }
	:: d_step { CK_USABLE(XD) -> bootstrap(XD) }
#endif
	od
}
