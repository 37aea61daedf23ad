## Pooled spatial panels with an intercept (no fixed effects) on the stacked data, with the
## block-diagonal I_T (x) W weights, fitted by spatialreg (method = "eigen").
## Run from the repository root:  Rscript tests/data/reference/pooled_spatialreg.R
source("tests/data/reference/_json.R")
source("tests/data/reference/_sarlm.R")
source("tests/data/reference/_panels.R")

ctl <- list(tol.opt = 1e-12)
for (name in c("cigar", "produc")) {
  P <- load_panel(name)
  lw <- kron_listw(P$B, P$T)
  f <- as.formula(paste(P$y, "~", paste(P$x, collapse = " + ")))
  d <- P$data
  fits <- list(
    sar  = lagsarlm(f, data = d, listw = lw, method = "eigen", control = ctl),
    sdm  = lagsarlm(f, data = d, listw = lw, method = "eigen", Durbin = TRUE, control = ctl),
    sem  = errorsarlm(f, data = d, listw = lw, method = "eigen", control = ctl),
    sdem = errorsarlm(f, data = d, listw = lw, method = "eigen", Durbin = TRUE, control = ctl),
    sac  = sacsarlm(f, data = d, listw = lw, method = "eigen")
  )
  vals <- list(N = P$N, T = P$T)
  for (m in names(fits)) vals <- c(vals, flat_sarlm(fits[[m]], paste0(m, "."), lw))
  slx <- lmSLX(f, data = d, listw = lw)
  vals <- c(vals, flat_lm(slx, "slx."))
  vals <- put_impacts(vals, "slx.", impacts(slx))
  vals <- c(vals, flat_lm(lm(f, data = d), "ols."))
  prov <- list(
    tool = "R spatialreg (lagsarlm, errorsarlm, sacsarlm, lmSLX) and stats::lm on the stacked panel",
    versions = r_versions(c("spatialreg", "spdep", "Matrix")),
    date = format(Sys.Date()),
    script = "tests/data/reference/pooled_spatialreg.R",
    data = if (name == "cigar") "bayes_sdm/datasets/data/cigar/cigar_panel.csv (N=46, T=30)" else
      "bayes_sdm/datasets/data/produc/produc_model.csv (N=48, T=17)",
    weights = paste0("binary matrix ", if (name == "cigar") "usa46_W_binary.csv" else "usaww_W_binary.csv",
                     "; listw = nb2listw(neighbours of kronecker(diag(T), B), style='W'), i.e. I_T (x) W with W row-standardised"),
    stacking = "rows sorted by year, then by the unit order of W's header (time-major), so the block-diagonal listw applies",
    formula = paste(deparse(f), "(pooled: one intercept, no unit/time effects)"),
    calls = paste("lagsarlm(f, listw=lw, method='eigen', control=list(tol.opt=1e-12)) [+ Durbin=TRUE];",
                  "errorsarlm(same) [+ Durbin=TRUE]; sacsarlm(f, listw=lw, method='eigen'); lmSLX(f, listw=lw); lm(f)"),
    durbin = "Durbin=TRUE lags every regressor except the intercept (lag.<x> = per-year W x); no lag of the constant",
    sigma2 = "sigma2 = SSE/(N T) for all ML fits; slx/ols sigma2_unbiased = SSE/(NT-k)",
    se = "as columbus_spatialreg.json: analytic asymptotic information matrices (no numerical Hessian); error-model beta SEs from s2 (X*'X*)^-1 with s2 = SSE/(NT)",
    impacts = "impacts(fit, listw=lw): exact from the eigenvalues of I_T (x) W (identical to those of W with N), method 'exact'; SDEM: beta/theta with summary.lm SEs (divisor NT-k)",
    precision = "rho/lambda located by optimize() on function values: exact to ~1e-8 absolute"
  )
  write_flat_json(vals, prov, sprintf("tests/data/reference/pooled_%s_spatialreg.json", name))
  cat(name, ": wrote", length(vals), "values\n")
}
