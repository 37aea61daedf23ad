## splm reference fits: fixed effects (spml model="within"), random effects (spml
## model="random" -> spreml), pooled (spml model="pooling"), and the spatial Hausman test
## (sphtest), on Produc (splm's own published example data) and cigar.
## Run from the repository root:  Rscript tests/data/reference/splm_panels.R
##
## Naming: splm calls the spatial-lag coefficient "lambda" and the spatial-error coefficient
## "rho". This file stores them under the package's names instead: <model>.rho = coefficient
## of Wy, <model>.lambda = coefficient of the spatial error. splm's phi (random effects) is
## the variance ratio sigma2_mu / sigma2_e.
source("tests/data/reference/_json.R")
source("tests/data/reference/_panels.R")
suppressPackageStartupMessages({library(splm); library(plm)})

## W-lags of the raw regressors, period by period, rows in the order of `d` (any order)
add_wx <- function(d, B, unit_col, xs) {
  W <- B / rowSums(B)
  for (v in xs) d[[paste0("w_", v)]] <- NA_real_
  for (yr in unique(d$year)) {
    i <- which(d$year == yr)
    i <- i[match(rownames(B), d[[unit_col]][i])]
    for (v in xs) d[[paste0("w_", v)]][i] <- as.vector(W %*% d[[v]][i])
  }
  d
}

sp_name <- function(nm, kind) {
  ## map splm's names to ours
  if (kind == "lag" && nm == "lambda") return("rho")
  if (kind == "error" && nm == "rho") return("lambda")
  nm
}

flat_fe <- function(m, p, kind, ev = NULL, T = NULL, leeyu = FALSE) {
  ## kind: "lag", "error", "sarar"
  out <- list()
  cf <- m$coefficients
  se <- sqrt(diag(m$vcov))
  nms <- names(cf)
  if (kind == "sarar") { nms[1] <- "rho"; nms[2] <- "lambda" }   # splm: c(lambda(Wy), rho(error), beta)
  else nms[1] <- sp_name(nms[1], kind)
  for (i in seq_along(cf)) {
    key <- if (nms[i] %in% c("rho", "lambda")) nms[i] else paste0("coef.", nms[i])
    out[[paste0(p, key)]] <- unname(cf[i])
    skey <- if (nms[i] %in% c("rho", "lambda")) paste0(nms[i], "_se") else paste0("se.", nms[i])
    out[[paste0(p, skey)]] <- unname(se[i])
  }
  out[[paste0(p, "sigma2")]] <- unname(m$sigma2)
  out[[paste0(p, "loglik")]] <- unname(m$logLik)   # error: concentrated objective; sarar: none
  if (!leeyu && !is.null(ev)) {
    ## full Gaussian log-likelihood at the estimate, with s2 = SSE/(NT):
    ## T log|I - rho W| + T log|I - lambda W| - NT/2 (log(2 pi s2) + 1)
    NT <- length(m$residuals)
    ld <- function(a) sum(log(1 - a * ev))
    sp <- 0
    if (kind %in% c("lag", "sarar")) sp <- sp + T * ld(out[[paste0(p, "rho")]])
    if (kind %in% c("error", "sarar")) sp <- sp + T * ld(out[[paste0(p, "lambda")]])
    out[[paste0(p, "loglik_full")]] <- sp - NT / 2 * (log(2 * pi * unname(m$sigma2)) + 1)
  }
  out
}

flat_re <- function(m, p, lag) {
  out <- list()
  cf <- m$coefficients; se <- sqrt(diag(m$vcov))
  for (nm in names(cf)) {
    out[[paste0(p, "coef.", nm)]] <- unname(cf[nm])
    out[[paste0(p, "se.", nm)]] <- unname(se[nm])
  }
  if (!is.null(m$arcoef)) {        # spatial lag coefficient (splm: "lambda")
    out[[paste0(p, "rho")]] <- unname(m$arcoef[1])
    out[[paste0(p, "rho_se")]] <- sqrt(unname(m$vcov.arcoef[1, 1]))
  }
  ec <- m$errcomp
  for (nm in names(ec)) {
    key <- if (nm == "rho") "lambda" else nm   # splm "rho" in errcomp = spatial error coef
    out[[paste0(p, key)]] <- unname(ec[nm])
    out[[paste0(p, key, "_se")]] <- sqrt(unname(m$vcov.errcomp[nm, nm]))
  }
  out[[paste0(p, "sigma2")]] <- unname(m$sigma2$idios)
  out[[paste0(p, "sigma2_mu")]] <- unname(m$sigma2$id)
  out[[paste0(p, "loglik")]] <- unname(m$logLik)
  if ("phi" %in% names(ec)) {
    T <- length(unique(m$model[[1]])) # placeholder, overwritten by caller
  }
  out
}

flat_htest <- function(h, p) {
  out <- list()
  out[[paste0(p, "statistic")]] <- unname(h$statistic)
  out[[paste0(p, "df")]] <- unname(h$parameter)
  out[[paste0(p, "p_value")]] <- unname(h$p.value)
  out
}

run_panel <- function(name, d, B, unit_col, y, xs, T, extra_prov) {
  lw <- nb2listw(mat2listw(B, style = "B")$neighbours, style = "W")
  ev <- Re(eigen(listw2mat(spatialreg::similar.listw(lw)), symmetric = TRUE, only.values = TRUE)$values)   # real spectrum of W
  d <- add_wx(d, B, unit_col, xs)
  wxs <- paste0("w_", xs)
  f  <- as.formula(paste(y, "~", paste(xs, collapse = " + ")))
  fd <- as.formula(paste(y, "~", paste(c(xs, wxs), collapse = " + ")))
  pd <- d[, c(unit_col, "year", y, xs, wxs)]
  idx <- c(unit_col, "year")
  vals <- list()
  calls <- character()
  fe <- function(tag, form, effect, lag, se, kind, ...) {
    m <- spml(form, data = pd, index = idx, listw = lw, model = "within", effect = effect,
              lag = lag, spatial.error = se, ...)
    calls <<- c(calls, sprintf("%s: spml(%s, model='within', effect='%s', lag=%s, spatial.error='%s'%s)",
                               tag, deparse(form, width.cutoff = 500), effect, lag, se,
                               if (length(list(...))) paste0(", ", paste(names(list(...)), list(...), sep = "=", collapse = ", ")) else ""))
    vals <<- c(vals, flat_fe(m, paste0(tag, "."), kind, ev = ev, T = T,
                             leeyu = isTRUE(list(...)$LeeYu)))
    m
  }
  re <- function(tag, form, lag, se) {
    m <- spml(form, data = pd, index = idx, listw = lw, model = "random", effect = "individual",
              lag = lag, spatial.error = se)
    calls <<- c(calls, sprintf("%s: spml(%s, model='random', lag=%s, spatial.error='%s') -> spreml(errors='%s')",
                               tag, deparse(form, width.cutoff = 500), lag, se, m$errors))
    v <- flat_re(m, paste0(tag, "."), lag)
    if (!is.null(m$errcomp["phi"]) && !is.na(m$errcomp["phi"])) {
      phi <- unname(m$errcomp["phi"])
      v[[paste0(tag, ".spreg_phi")]] <- sqrt(1 / (1 + T * phi))  # spreg/Elhorst lag-model phi
      v[[paste0(tag, ".spreg_sig2u_over_sig2_sqrt")]] <- sqrt(phi) # spreg error-model 'phi'
    }
    vals <<- c(vals, v)
    m
  }
  ## fixed effects
  for (eff in c("twoways", "individual", "time")) {
    e <- c(twoways = "tw", individual = "ind", time = "time")[[eff]]
    fe(paste0("fe_", e, "_sar"),  f,  eff, TRUE,  "none", "lag")
    fe(paste0("fe_", e, "_sdm"),  fd, eff, TRUE,  "none", "lag")
    fe(paste0("fe_", e, "_sem"),  f,  eff, FALSE, "b",    "error")
    fe(paste0("fe_", e, "_sdem"), fd, eff, FALSE, "b",    "error")
    fe(paste0("fe_", e, "_sac"),  f,  eff, TRUE,  "b",    "sarar")
  }
  for (eff in c("twoways", "individual")) {
    e <- c(twoways = "tw", individual = "ind")[[eff]]
    fe(paste0("fe_", e, "_sar_leeyu"), f,  eff, TRUE, "none", "lag", LeeYu = TRUE)
    fe(paste0("fe_", e, "_sdm_leeyu"), fd, eff, TRUE, "none", "lag", LeeYu = TRUE)
    fe(paste0("fe_", e, "_sem_leeyu"), f,  eff, FALSE, "b", "error", LeeYu = TRUE)
  }
  ## random effects (unit), intercept included
  re("re_sar",  f,  TRUE,  "none")
  re("re_sdm",  fd, TRUE,  "none")
  re("re_sem",  f,  FALSE, "b")      # Baltagi-Song-Koh / Elhorst: u = mu + e, e = lambda W e + v
  re("re_sdem", fd, FALSE, "b")
  re("re_sem_kkp", f, FALSE, "kkp")  # Kapoor-Kelejian-Prucha: u = lambda W u + (mu + v)
  re("re_sac",  f,  TRUE,  "b")
  ## Hausman tests FE vs RE (sphtest, ML)
  h <- list(
    hausman_lag = sphtest(f, data = pd, index = idx, listw = lw, spatial.model = "lag", method = "ML"),
    hausman_error_kkp = sphtest(f, data = pd, index = idx, listw = lw, spatial.model = "error", method = "ML", errors = "KKP"),
    hausman_error_bsk = sphtest(f, data = pd, index = idx, listw = lw, spatial.model = "error", method = "ML", errors = "BSK")
  )
  for (k in names(h)) vals <- c(vals, flat_htest(h[[k]], paste0(k, ".")))
  calls <- c(calls,
    "hausman_lag: sphtest(f, listw=lw, spatial.model='lag', method='ML') [FE: spml within individual lag; RE: spml random lag]",
    "hausman_error_kkp: sphtest(..., spatial.model='error', method='ML', errors='KKP') [RE: sem2re]",
    "hausman_error_bsk: sphtest(..., spatial.model='error', method='ML', errors='BSK') [RE: semre]")
  prov <- c(list(
    tool = "R splm (spml, spreml, sphtest)",
    versions = r_versions(c("splm", "plm", "spatialreg", "spdep", "Matrix", "maxLik")),
    splm_source = "splm 1.6-5 (CRAN release 2023-12-20) built from the CRAN GitHub mirror cran/splm; not in Debian bookworm and CRAN unreachable here",
    date = format(Sys.Date()),
    script = "tests/data/reference/splm_panels.R",
    formula = deparse(f, width.cutoff = 500),
    durbin_formula = paste(deparse(fd, width.cutoff = 500), "; w_<x> = W x built from the RAW x period by period, passed as ordinary regressors (demeaned by the FE transform like any regressor)"),
    naming = "rho = coefficient of Wy (splm: lambda); lambda = spatial-error coefficient (splm: rho); phi = splm's sigma2_mu/sigma2_e (random effects)",
    fe_conventions = paste("within: y, x demeaned (unit / time / both), Wy computed on the demeaned y (= demeaned Wy for row-standardised W, balanced panel);",
                           "no intercept; sigma2 = SSE/(NT) (LeeYu=FALSE) -- with LeeYu=TRUE splm rescales s2 and the LL to (T-1) / (N-1) / both and, for twoways,",
                           "applies the Lee-Yu bias correction to (sigma2, rho, beta); splm's 'loglik' for lag = T log|I - rho W| - NT/2 log(2 pi s2) - SSE/(2 s2); for error splm returns only the concentrated objective T log|I-lambda W| - NT/2 log(SSE) (no constants), for sarar nothing;",
                           "loglik_full (computed here, LeeYu=FALSE only) = T log|I-rho W| + T log|I-lambda W| - NT/2 (log(2 pi s2) + 1) for every kind;",
                           "SEs (Hess=FALSE, default): analytic asymptotic information matrix inverted, vcov stored block-diagonal (spatial coef | betas), sqrt(diag) recorded"),
    re_conventions = paste("spreml: exact ML with the full NT covariance (bdsmatrix / dense), nlminb (x.tol 1.5e-18, rel.tol 1e-15), intercept included;",
                           "sigma2 = GLS residual variance / (NT); sigma2_mu = phi * sigma2; beta SEs = GLS covariance sigma2 (X' Sigma^-1 X)^-1 conditional on (phi, rho, lambda);",
                           "SEs of phi, rho, lambda from nlme::fdHess numerical Hessian of the concentrated log-likelihood; loglik is the full log-likelihood incl. -N/2 log(1 + T phi)",
                           "and constants. spreg_phi = sqrt(1/(1+T phi)) converts to spreg Panel_RE_Lag's phi (phi^2 = sigma2/(T sigma2_mu + sigma2));",
                           "spreg_sig2u_over_sig2_sqrt = sqrt(phi) is spreg Panel_RE_Error's 'phi'"),
    hausman = "sphtest: H = d' (V_RE - V_FE)^-1 d over the common slope coefficients (not rho/lambda, not the intercept), df = their number; FE effect = individual",
    calls = paste(calls, collapse = " | ")
  ), extra_prov)
  write_flat_json(c(list(N = nrow(B), T = T), vals), prov, sprintf("tests/data/reference/splm_%s.json", name))
  cat(name, ": wrote", length(vals), "values\n")
}

## ---- Produc: splm's own data (plm::Produc, splm::usaww), cross-checked against the bundle
data(Produc, package = "plm"); data(usaww, package = "splm")
Pb <- load_panel("produc")
Bb <- Pb$B
same_W <- identical(rownames(usaww), rownames(Bb)) && max(abs(usaww - Bb / rowSums(Bb))) < 1e-15
pr <- Produc
pr$state <- as.character(pr$state)
pr$lgsp <- log(pr$gsp); pr$lpcap <- log(pr$pcap); pr$lpc <- log(pr$pc); pr$lemp <- log(pr$emp)
chk <- merge(pr, Pb$data, by = c("state", "year"), suffixes = c("", ".b"))
stopifnot(nrow(chk) == 816)
maxdiff_data <- max(sapply(c("lgsp", "lpcap", "lpc", "lemp", "unemp"),
                           function(v) max(abs(chk[[v]] - chk[[paste0(v, ".b")]]))))
maxdiff_W <- max(abs(usaww - Bb / rowSums(Bb)))
run_panel("produc", pr, Bb, "state", "lgsp", c("lpcap", "lpc", "lemp", "unemp"), 17,
  list(data = "plm::Produc (lgsp = log(gsp), lpcap = log(pcap), lpc = log(pc), lemp = log(emp), unemp), W = splm::usaww",
       bundle_check = sprintf("bundled produc_model.csv vs log(plm::Produc) columns: max |diff| = %.3g (last-ulp differences of log); usaww vs bundled binary row-standardised: max |diff| = %.3g",
                              maxdiff_data, maxdiff_W),
       published = "Millo & Piras / splm: two-way FE SDM with W-lagged raw X: rho (splm 'lambda') = 0.3688462, SE 0.0404 -> fe_tw_sdm"))

## ---- cigar (bundled)
Pc <- load_panel("cigar")
run_panel("cigar", Pc$data, Pc$B, "state_name", "logc", c("logp", "logy"), 30,
  list(data = "bayes_sdm/datasets/data/cigar/cigar_panel.csv: logc ~ logp + logy, W = usa46 binary row-standardised"))
